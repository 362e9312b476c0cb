package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadGoldenV1 copies the v1 records written by dsop-bank before the versioned encoding (December
// 2026, testdata/v1-records.jsonl) into a file store's directory, as an upgraded bank has them.
func loadGoldenV1(t *testing.T) (dir string, lines [][]byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/v1-records.jsonl")
	require.NoError(t, err)
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-00000000000000000001.jsonl"), b, 0o600))
	return dir, bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

var testSigner = NewSigner([]byte("0123456789abcdef0123456789abcdef"))

func TestGoldenV1RecordsVerifyAndTheChainGoesOnInV2(t *testing.T) {
	dir, lines := loadGoldenV1(t)
	st, err := OpenFileStore(dir, 0)
	require.NoError(t, err)
	defer st.Close()
	rep, err := Verify(context.Background(), st, testSigner)
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, len(lines), rep.Records)

	// New records continue the old chain, in the current version.
	r := &Record{Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Operation: "listAccounts", Method: "GET", Path: "/v2/accounts",
		AccountInfoRequestID: "<script>", Status: 200, Consumer: "0192:974760673"}
	require.NoError(t, st.Append(context.Background(), r))
	require.Equal(t, CurrentVersion, r.V)
	require.True(t, bytes.HasPrefix(r.Raw, []byte(`{"v":2,"seq":6,`)), string(r.Raw))
	require.Contains(t, string(r.Raw), `"account_info_request_id":"<script>"`, "no HTML escaping: a byte stays a byte")
	rep, err = Verify(context.Background(), st, testSigner)
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, len(lines)+1, rep.Records)

	// The v1 records read back with their fields.
	p, err := st.Query(context.Background(), Query{Case: "d4a820ca-ddde-11ed-b5ea-0242ac120002", Oldest: true})
	require.NoError(t, err)
	require.Len(t, p.Records, 4)
	require.Equal(t, 1, p.Records[0].V)
	require.Equal(t, "Konkursloven § 101 jf. tvisteloven § 21-5", p.Records[0].LegalMandate)
}

// A future version adds a field: records written before it, and records written with it, verify
// in one chain, because verification reads the stored bytes and no Go type.
func TestAddingAFieldIsANewVersionAndEveryStoredRecordStillVerifies(t *testing.T) {
	_, lines := loadGoldenV1(t)
	fieldsV3 := append(fieldsV2[:len(fieldsV2)-1:len(fieldsV2)-1],
		field{"purpose", str(func(r *Record) string { return "estate administration" })}, fieldsV2[len(fieldsV2)-1])
	var chain [][]byte
	chain = append(chain, lines...)
	prevSeq, prevHash := uint64(len(lines)), ""
	var last chainFields
	require.NoError(t, json.Unmarshal(lines[len(lines)-1], &last))
	prevHash = last.Hash
	for i, v := range []int{2, 3, 2, 3} {
		r := &Record{Seq: prevSeq + 1, PrevHash: prevHash, Time: time.Date(2026, 12, 3, 10, i, 0, 0, time.UTC), Operation: "listAccounts", Status: 200}
		fs := fieldsV2
		if v == 3 {
			fs = fieldsV3
		}
		raw, h, err := encodeWith(v, fs, r)
		require.NoError(t, err)
		chain = append(chain, raw)
		prevSeq, prevHash = r.Seq, h
	}
	require.Contains(t, string(chain[len(chain)-1]), `"purpose":"estate administration"`)
	m := &MemoryStore{}
	for _, raw := range chain {
		r, err := Decode(raw)
		require.NoError(t, err, string(raw))
		m.records = append(m.records, r)
	}
	rep, err := Verify(context.Background(), m, testSigner)
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, len(chain), rep.Records)
}

func TestVerifyFailsOnAnyChangedStoredByte(t *testing.T) {
	m := &MemoryStore{}
	for i := range 3 {
		require.NoError(t, m.Append(context.Background(), &Record{Time: time.Unix(int64(i), 0), Operation: "listAccounts", PartyID: "910336819", Status: 200}))
	}
	orig := m.Records()
	for pos := 0; pos < len(orig[1].Raw); pos++ {
		recs := m.Records()
		raw := bytes.Clone(recs[1].Raw)
		raw[pos] ^= 0x01
		if r, err := Decode(raw); err == nil {
			recs[1] = r
		} else {
			recs[1].Raw = raw // unreadable: the store hands it over as stored
		}
		m.mu.Lock()
		m.records = recs
		m.mu.Unlock()
		rep, err := Verify(context.Background(), m, testSigner)
		require.NoError(t, err)
		require.False(t, rep.OK(), "byte %d (%q) changed and the chain still verified", pos, orig[1].Raw[pos])
	}
	m.mu.Lock()
	m.records = orig
	m.mu.Unlock()
	rep, err := Verify(context.Background(), m, testSigner)
	require.NoError(t, err)
	require.True(t, rep.OK(), "the unchanged chain verifies: the failures above are the changes'")
}

func TestCanonicalV2IsStable(t *testing.T) {
	n := 2
	r := &Record{V: 2, Seq: 7, Time: time.Date(2026, 12, 3, 9, 0, 0, 5000, time.UTC), Service: "konkursbehandling", Operation: "listAccounts",
		Method: "GET", Path: "/v2/accounts", Client: "192.0.2.1", Consumer: "0192:974760673", AccountInfoRequestID: "a\"b\\c\nd\x01<>&é",
		Spells: []string{"r1 2026-01-01/2026-02-01"}, Status: 200, Accounts: &n, AccountNumbers: []string{"15035218545"}, LatencyMS: 1.5,
		PrevHash: GenesisHash}
	raw, h, err := CanonicalV2(r)
	require.NoError(t, err)
	want := `{"v":2,"seq":7,"time":"2026-12-03T09:00:00.000005Z","service":"konkursbehandling","operation":"listAccounts","method":"GET","path":"/v2/accounts","client":"192.0.2.1","consumer":"0192:974760673","account_info_request_id":"a\"b\\c\nd\u0001<>&é","spells":["r1 2026-01-01/2026-02-01"],"status":200,"accounts":2,"account_numbers":["15035218545"],"latency_ms":1.5,"prev_hash":"` + GenesisHash + `","hash":"` + h + `"}`
	require.Equal(t, want, string(raw))
	got, err := StoredHash(raw)
	require.NoError(t, err)
	require.Equal(t, h, got)
	var back Record
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, r.AccountInfoRequestID, back.AccountInfoRequestID)
}

// The record of a refused anonymous call stays within MaxCompactRecord whatever the caller sent,
// and a record standing for several within MaxCompactSummary.
func TestCompact_TheLargestRefusedCallFitsTheCap(t *testing.T) {
	long := string(bytes.Repeat([]byte("€<\"\\\x01"), 4000))
	at := time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)
	for _, reason := range []string{"token:signature-encoding", "token:consumer"} { // the longest reasons before authentication
		for _, summary := range []bool{false, true} {
			r := &Record{Time: at, Operation: "showAccountById", Method: long, Path: long,
				Client: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", Consumer: long, AccountInfoRequestID: long, CorrelationID: long, PartyID: long,
				LegalMandate: long, FromDate: long, ToDate: long, PageCursor: long, RequesterID: long, Status: 429, Code: "ACC-022", Reason: reason,
				LatencyMS: 123456.789123}
			limit := MaxCompactRecord
			if reason == "token:consumer" {
				limit = MaxCompactSummary
			}
			if summary {
				r.Count, r.Until, limit = 999999999, at, MaxCompactSummary
			}
			Compact(r)
			r.Seq, r.PrevHash = 999999999999, GenesisHash // a trillion records: 300 years at 100 a second
			raw, _, err := CanonicalV2(r)
			require.NoError(t, err)
			require.LessOrEqual(t, len(raw), limit, string(raw))
			require.Contains(t, string(raw), "…#", "a cut value is marked")
			require.NotContains(t, string(raw), "legal_mandate", "values beyond the request's identity are dropped")
			require.Equal(t, reason == "token:consumer", bytes.Contains(raw, []byte(`"consumer":`)))
		}
	}
}
