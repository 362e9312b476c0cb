package konkursvarsel

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/demo"
)

// fakeBRREG is the mock with failures injected.
type fakeBRREG struct {
	*Mock
	srv     *httptest.Server
	fail500 atomic.Int32 // answer this many requests with 500
	failDet atomic.Int32 // answer this many detail requests with 500
	hang    atomic.Int32 // make this many requests outlast the client's timeout
	extra   atomic.Value // raw JSON items to put first on every list page
	paths   sync.Map
}

func isList(path string) bool {
	return path == "/konkursvarsler" || strings.HasPrefix(path, "/konkursvarsler/oppdatert/")
}

func newFake(t *testing.T, notices []Notice) *fakeBRREG {
	f := &fakeBRREG{Mock: NewMock(notices)}
	f.PageSize = 4
	h := f.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.paths.Store(r.URL.Path, true)
		if f.fail500.Add(-1) >= 0 || (!isList(r.URL.Path) && f.failDet.Add(-1) >= 0) {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if f.hang.Add(-1) >= 0 {
			time.Sleep(300 * time.Millisecond)
		}
		extra, _ := f.extra.Load().(string)
		if extra == "" || !isList(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := strings.Replace(rec.Body.String(), `"konkursvarsler":[`, `"konkursvarsler":[`+extra+",", 1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func demoNotices(t *testing.T) []Notice {
	list, rejected, err := ParseList(demo.Konkursvarsler())
	require.NoError(t, err)
	require.Empty(t, rejected)
	return list
}

type customers map[string][]string

func (c customers) AccountsToBlock(_ context.Context, party string) ([]string, error) {
	return c[party], nil
}

func newPoller(t *testing.T, f *fakeBRREG, st Store) *Poller {
	return &Poller{
		Client:    &Client{BaseURL: f.srv.URL, HTTP: &http.Client{Timeout: 100 * time.Millisecond}, Attempts: 4, Backoff: time.Millisecond},
		Store:     st,
		Outbox:    &FileOutbox{Dir: t.TempDir()},
		Customers: customers{"910336819": {"15039285662"}, "910425463": {"15030000001"}, "910491482": {"15030000002"}, "910000004": {"15030000003"}},
	}
}

func count(st *MemoryStore) int { return len(st.All()) }

func TestPoller_FullHistoryThenIncrementalWithOverlapAndDuplicates(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, demoNotices(t))
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	p.Overlap = time.Minute

	res, err := p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 15, res.Applied, "the whole history, across pages of 4")
	require.Equal(t, 15, count(st))
	cur, _ := st.Cursor(ctx)
	require.Equal(t, "2019-06-10T11:32:40.2Z", cur.Format(time.RFC3339Nano), "cursor = latest registreringstidspunkt")
	require.Equal(t, 2, p.Status().Applied[Sletting])
	require.Equal(t, 10, p.Status().Applied[Aapning])

	// Nothing new: the overlap brings the last notice again; it is not applied twice.
	res, err = p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Fetched)
	require.Zero(t, res.Applied)
	_, ok := f.paths.Load("/konkursvarsler/oppdatert/2019-06-10T11:31:40.200Z")
	require.True(t, ok, "incremental call from the cursor less the overlap")

	// A new notice; the batch also brings the last one again (overlap).
	n, err := f.Add(NewNotice{Type: Aapning, Debitor: "910491482", Kjennelsesdato: "2026-11-20", UUID: "6a0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a01"})
	require.NoError(t, err)
	f.mu.Lock()
	f.notices = append(f.notices, mockNotice{Notice: n})
	f.mu.Unlock()
	res, err = p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied)
	require.Equal(t, 16, count(st))
	cur, _ = st.Cursor(ctx)
	require.True(t, cur.Equal(n.Registreringstidspunkt))

	// The outbox: block for each customer's aapning, reopen for its sletting, once each.
	acts, err := p.Outbox.List(ctx)
	require.NoError(t, err)
	var got []string
	for _, a := range acts {
		got = append(got, a.Debitor+":"+string(a.Type))
	}
	require.Equal(t, []string{"910336819:block", "910425463:block", "910425463:reopen", "910491482:block", "910491482:block"}, sortedStrings(got))
}

func sortedStrings(s []string) []string { sort.Strings(s); return s }

func TestPoller_RetriesServerErrorsAndTimeouts(t *testing.T) {
	f := newFake(t, demoNotices(t))
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	f.fail500.Store(2)
	f.hang.Store(1)
	_, err := p.Sync(context.Background())
	require.NoError(t, err)
	require.Equal(t, 15, count(st))
}

func TestPoller_GivesUpAfterTheAttemptsAndKeepsTheCursor(t *testing.T) {
	f := newFake(t, demoNotices(t))
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	f.fail500.Store(100)
	_, err := p.Sync(context.Background())
	require.Error(t, err)
	cur, _ := st.Cursor(context.Background())
	require.True(t, cur.IsZero())
	require.Equal(t, 1, p.Status().Errors)
	require.NotEmpty(t, p.Status().LastError)
}

func TestClient_DoesNotRetry4xx(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Attempts: 4, Backoff: time.Millisecond}
	_, err := c.Updated(context.Background(), time.Time{})
	require.ErrorContains(t, err, "403")
	require.EqualValues(t, 1, n.Load())
}

func TestPoller_MalformedNoticeAmongGoodOnesIsRejectedAndTheRestApplied(t *testing.T) {
	f := newFake(t, demoNotices(t))
	f.extra.Store(`{"uuid":"not-a-uuid","type":"aapning","registreringstidspunkt":"2018-06-08T11:00:00.000Z","debitor":"910336819","kjennelsesdato":"2018-06-08"},
		{"uuid":"5f0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a02","type":"konkurs","registreringstidspunkt":"2018-06-08T11:00:00.000Z","debitor":"910336819"},
		{"uuid":"5f0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a03","type":"aapning","registreringstidspunkt":"2018-06-08T11:00:00.000Z","debitor":"12345","kjennelsesdato":"2018-06-08"},
		{"uuid":"5f0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a04","type":"aapning","registreringstidspunkt":"2018-06-08T11:00:00.000Z","debitor":"910336819","kjennelsesdato":"08.06.2018"}`)
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	res, err := p.Sync(context.Background())
	require.NoError(t, err)
	require.Equal(t, 15, count(st))
	require.Positive(t, res.Rejected)
	require.Positive(t, p.Status().Rejected)
}

// A notice that comes back under a known uuid with other content is rejected; the rest goes in.
func TestPoller_ConflictingNoticeDoesNotStopTheBatch(t *testing.T) {
	ctx := context.Background()
	notices := demoNotices(t)
	st := NewMemoryStore()
	changed := notices[0]
	changed.Type = Sletting
	_, err := st.Apply(ctx, []Notice{changed})
	require.NoError(t, err)
	f := newFake(t, notices)
	p := newPoller(t, f, st)
	res, err := p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 14, res.Applied)
	require.Equal(t, 1, res.Rejected)
}

// failingCursor simulates a crash after the notices are stored but before the cursor moves.
type failingCursor struct {
	*FileStore
	fail bool
}

func (f *failingCursor) SetCursor(ctx context.Context, t time.Time) error {
	if f.fail {
		return errors.New("crash")
	}
	return f.FileStore.SetCursor(ctx, t)
}

func TestPoller_CrashBetweenStoringNoticesAndAdvancingTheCursor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFake(t, demoNotices(t))
	fs, err := OpenFileStore(dir)
	require.NoError(t, err)
	st := &failingCursor{FileStore: fs, fail: true}
	p := newPoller(t, f, st)
	outbox := p.Outbox
	_, err = p.Sync(ctx)
	require.Error(t, err)
	cur, _ := st.Cursor(ctx)
	require.True(t, cur.IsZero(), "the cursor did not move")
	require.NoError(t, fs.Close())

	// Restart: the store is read back from disk; the same notices come again.
	fs, err = OpenFileStore(dir)
	require.NoError(t, err)
	defer fs.Close()
	require.Equal(t, 15, len(fs.All()))
	p = newPoller(t, f, fs)
	p.Outbox = outbox
	res, err := p.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Applied, "each notice is stored exactly once")
	require.Equal(t, 15, len(fs.All()))
	cur, _ = fs.Cursor(ctx)
	require.Equal(t, "2019-06-10T11:32:40.2Z", cur.Format(time.RFC3339Nano))
	acts, err := outbox.List(ctx)
	require.NoError(t, err)
	require.Len(t, acts, 4, "actions recorded once: blocks for 910336819, 910425463, 910491482 and the reopen of 910425463")

	fs.Close()
	fs, err = OpenFileStore(dir)
	require.NoError(t, err)
	cur, _ = fs.Cursor(ctx)
	require.Equal(t, "2019-06-10T11:32:40.2Z", cur.Format(time.RFC3339Nano), "the cursor is durable")
}

func TestPoller_PersonalBankruptcyBringsItsENKFromTheDetail(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, nil)
	_, err := f.Add(NewNotice{UUID: "7a0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a05", Type: Aapning, Debitor: "08086001471", Kjennelsesdato: "2026-11-01", AssociatedOrgNos: []string{"910000004"}})
	require.NoError(t, err)
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	_, err = p.Sync(ctx)
	require.NoError(t, err)
	ns, err := st.NoticesFor(ctx, "910000004")
	require.NoError(t, err)
	require.Len(t, ns, 1, "the ENK finds the person's notice")
	state := Derive(ns[0].Debitor, ns)
	require.Equal(t, "08086001471", state.Debitor)
	require.Equal(t, StatusOpen, state.Status)
	acts, _ := p.Outbox.List(ctx)
	require.Len(t, acts, 1)
	require.Equal(t, []ActionAccount{{AccountNumber: "15030000003", PartyID: "910000004"}}, acts[0].Accounts)
}

// A detail that fails when the notice first comes is asked for again at the next poll (within
// the overlap), and the person's ENK is linked then, although the cursor has moved on (issue #29:
// the units were never linked).
func TestPoller_AFailedDetailIsRetriedAndTheENKLinkedLater(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, nil)
	_, err := f.Add(NewNotice{UUID: "7a0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a06", Type: Aapning, Debitor: "08086001471", Kjennelsesdato: "2026-11-01", AssociatedOrgNos: []string{"910000004"}})
	require.NoError(t, err)
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	f.failDet.Store(100) // every attempt of the first poll
	_, err = p.Sync(ctx)
	require.NoError(t, err)
	ns, err := st.NoticesFor(ctx, "910000004")
	require.NoError(t, err)
	require.Empty(t, ns, "not linked yet: the detail failed")
	cur, _ := st.Cursor(ctx)
	require.False(t, cur.IsZero(), "the cursor moved on")
	f.failDet.Store(0)
	_, err = p.Sync(ctx)
	require.NoError(t, err)
	ns, err = st.NoticesFor(ctx, "910000004")
	require.NoError(t, err)
	require.Len(t, ns, 1, "linked at the next poll")
}

// The person is a customer too: the notice's block action went out at the first poll with the
// person's own accounts, before the ENK was known. When the ENK is linked later, the bank must
// still be told to block the ENK's accounts (issue #29), once.
func TestPoller_AnENKLinkedLateGetsItsOwnBlockAction(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, nil)
	const id = "7a0f3f5e-5f51-4c43-9d7c-0d7e0b3b0a07"
	_, err := f.Add(NewNotice{UUID: id, Type: Aapning, Debitor: "08086001471", Kjennelsesdato: "2026-11-01", AssociatedOrgNos: []string{"910000004"}})
	require.NoError(t, err)
	st := NewMemoryStore()
	p := newPoller(t, f, st)
	p.Customers = customers{"08086001471": {"15030000009"}, "910000004": {"15030000003"}}
	f.failDet.Store(100)
	_, err = p.Sync(ctx)
	require.NoError(t, err)
	acts, _ := p.Outbox.List(ctx)
	require.Len(t, acts, 1, "the person's own accounts are blocked at once")
	require.Equal(t, []ActionAccount{{AccountNumber: "15030000009", PartyID: "08086001471"}}, acts[0].Accounts)

	f.failDet.Store(0)
	for range 2 { // a second poll within the overlap adds nothing
		_, err = p.Sync(ctx)
		require.NoError(t, err)
	}
	acts, _ = p.Outbox.List(ctx)
	require.Len(t, acts, 2, "the ENK linked late gets its own block action")
	require.Equal(t, id+"/910000004", acts[1].ID)
	require.Equal(t, ActionBlock, acts[1].Type)
	require.Equal(t, []ActionAccount{{AccountNumber: "15030000003", PartyID: "910000004"}}, acts[1].Accounts)
}

func TestOutbox_AckOnceAndSurvivesReopening(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := &FileOutbox{Dir: dir}
	a := Action{ID: "x", Type: ActionBlock, NoticeUUID: "x"}
	n, err := o.Add(ctx, []Action{a, a})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, o.Ack(ctx, "x", "ops"))
	require.ErrorIs(t, o.Ack(ctx, "x", "ops"), ErrAlreadyAcked)
	require.ErrorIs(t, o.Ack(ctx, "nope", "ops"), ErrUnknownAction)
	o2 := &FileOutbox{Dir: dir}
	acts, err := o2.List(ctx)
	require.NoError(t, err)
	require.Len(t, acts, 1)
	require.NotNil(t, acts[0].AckedAt)
	n, _ = o2.Add(ctx, []Action{a})
	require.Zero(t, n, "an acknowledged action is not recorded again")
}

// One notice dated 2099 must not make the poller skip every later real notice: it is stored and
// applied, reported once, and the cursor stays at this server's clock plus the allowed skew.
func TestPoller_AFutureDatedNoticeDoesNotPoisonTheCursor(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, nil)
	st := NewMemoryStore()
	var logs bytes.Buffer
	p := newPoller(t, f, st)
	p.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	_, err := f.Add(NewNotice{Type: Aapning, Debitor: "910336819", Registreringstidspunkt: "2099-01-01T00:00:00Z", Kjennelsesdato: "2026-11-20"})
	require.NoError(t, err)
	res, err := p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied, "the future-dated notice is stored and applied")
	require.False(t, res.Cursor.After(time.Now().Add(5*time.Minute)), "cursor %s", res.Cursor)
	require.Equal(t, 1, p.Status().FutureDated)
	require.Contains(t, logs.String(), "registered in the future")

	_, err = f.Add(NewNotice{Type: Aapning, Debitor: "910491482"}) // registered now
	require.NoError(t, err)
	res, err = p.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied, "the later real notice still arrives")
	ns, err := st.NoticesFor(ctx, "910491482")
	require.NoError(t, err)
	require.Len(t, ns, 1)
	require.Equal(t, 1, p.Status().FutureDated, "reported once, not at every poll")
	require.Equal(t, 1, strings.Count(logs.String(), "registered in the future"))
}

// A notice registered before the cursor but published late (an hour after) is fetched by the
// next poll within the overlap and applied once; with a one-minute overlap it was never applied
// (issue #29).
func TestPoller_ALatePublishedNoticeIsAppliedOnce(t *testing.T) {
	for _, c := range []struct {
		overlap time.Duration
		applied bool
	}{{time.Minute, false}, {0, true}} { // 0: the default, 24 h
		ctx := context.Background()
		f := newFake(t, demoNotices(t))
		st := NewMemoryStore()
		p := newPoller(t, f, st)
		p.Overlap = c.overlap
		_, err := p.Sync(ctx)
		require.NoError(t, err)
		cur, _ := st.Cursor(ctx)
		late, err := f.Add(NewNotice{Type: Aapning, Debitor: "910000004", Kjennelsesdato: "2019-06-01", UUID: "0c1b5d7e-2a4f-4e1b-9a3c-5d6e7f809102",
			Registreringstidspunkt: cur.Add(-time.Hour).Format(TimeFormat)})
		require.NoError(t, err)
		f.mu.Lock()
		f.notices = append(f.notices, mockNotice{Notice: late})
		f.mu.Unlock()
		for range 2 {
			_, err = p.Sync(ctx)
			require.NoError(t, err)
		}
		ns, err := st.NoticesFor(ctx, "910000004")
		require.NoError(t, err)
		require.Equal(t, c.applied, containsUUID(ns, late.UUID), "overlap %s", c.overlap)
		if c.applied {
			require.Equal(t, 16, count(st), "applied once")
		}
	}
}

// Targeted extraction (issue #28): a bank that copies only bankrupt parties' data learns of an
// opening for a party it has no accounts of here as an export action; a sletting for such a
// party stays nothing, and a customer in the copy still gets its block action.
func TestPoller_TargetedExtractionTurnsAnUnknownOpeningIntoAnExportAction(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, demoNotices(t))
	for _, export := range []bool{false, true} {
		p := newPoller(t, f, NewMemoryStore())
		p.ExportUnknown = export
		p.Customers = customers{"910336819": {"15039285662"}}
		_, err := p.Sync(ctx)
		require.NoError(t, err)
		acts, err := p.Outbox.List(ctx)
		require.NoError(t, err)
		byType := map[ActionType][]string{}
		for _, a := range acts {
			byType[a.Type] = append(byType[a.Type], a.Debitor)
			if a.Type == ActionExport {
				require.Empty(t, a.Accounts)
				require.NotEmpty(t, a.Kjennelsesdato, "the export covers kjennelsesdato − 12 months onwards")
				require.Equal(t, Aapning, a.NoticeType)
			}
		}
		require.Contains(t, byType[ActionBlock], "910336819", "a customer in the copy is blocked as always")
		if !export {
			require.Empty(t, byType[ActionExport])
			continue
		}
		require.NotEmpty(t, byType[ActionExport])
		require.NotContains(t, byType[ActionExport], "910336819")
		require.Empty(t, byType[ActionReopen], "a sletting for a party never copied needs nothing")
	}
}
