package konkursvarsel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Mock is a stand-in for BRREG's Konkursvarsel API for tests and demos: it serves notices in the
// API's list format (HAL, paged with _links.next), supports oppdatert/{registreringstidspunkt}
// and the detail resource, and takes new notices at run time on POST /admin/konkursvarsler.
type Mock struct {
	PageSize int // default 100

	mu      sync.Mutex
	notices []mockNotice
}

type mockNotice struct {
	Notice
	// Units are the ENK/TVAM units the detail data set lists.
	Units []string
}

// NewMock returns a mock holding notices.
func NewMock(notices []Notice) *Mock {
	m := &Mock{}
	for _, n := range notices {
		m.notices = append(m.notices, mockNotice{Notice: n, Units: n.AssociatedOrgNos})
	}
	m.sort()
	return m
}

func (m *Mock) sort() {
	sort.SliceStable(m.notices, func(i, j int) bool {
		return m.notices[i].Registreringstidspunkt.Before(m.notices[j].Registreringstidspunkt)
	})
}

// NewNotice is the body of POST /admin/konkursvarsler; uuid, registreringstidspunkt (now) and
// kjennelsesdato (today, for aapning) are filled in when missing.
type NewNotice struct {
	UUID                   string   `json:"uuid"`
	Type                   Type     `json:"type"`
	Debitor                string   `json:"debitor"`
	Kjennelsesdato         string   `json:"kjennelsesdato"`
	Registreringstidspunkt string   `json:"registreringstidspunkt"`
	AssociatedOrgNos       []string `json:"associatedOrgNos"`
}

// Handler serves the API.
func (m *Mock) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeHAL(w, map[string]any{"_links": map[string]any{"konkursvarsler": map[string]string{"href": base(r) + "/konkursvarsler"}}})
	})
	mux.HandleFunc("GET /konkursvarsler", func(w http.ResponseWriter, r *http.Request) { m.list(w, r, time.Time{}) })
	mux.HandleFunc("GET /konkursvarsler/oppdatert/{ts}", func(w http.ResponseWriter, r *http.Request) {
		ts, err := time.Parse(time.RFC3339Nano, r.PathValue("ts"))
		if err != nil {
			http.Error(w, "registreringstidspunkt must be ISO 8601, e.g. 2018-06-08T11:34:23.111Z", http.StatusBadRequest)
			return
		}
		m.list(w, r, ts)
	})
	mux.HandleFunc("GET /konkursvarsler/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, n := range m.notices {
			if n.UUID == r.PathValue("uuid") {
				d := item(n.Notice, base(r))
				var units []map[string]string
				for _, u := range n.Units {
					units = append(units, map[string]string{"organisasjonsnummer": u, "organisasjonsform": "ENK"})
				}
				d["tilknyttedeEnheter"] = units
				writeHAL(w, d)
				return
			}
		}
		http.NotFound(w, r)
	})
	mux.HandleFunc("POST /admin/konkursvarsler", func(w http.ResponseWriter, r *http.Request) {
		var in NewNotice
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := m.Add(in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		writeHAL(w, item(n, base(r)))
	})
	return mux
}

// Add appends a notice.
func (m *Mock) Add(in NewNotice) (Notice, error) {
	n := Notice{UUID: in.UUID, Type: in.Type, Debitor: in.Debitor, AssociatedOrgNos: in.AssociatedOrgNos}
	if n.UUID == "" {
		n.UUID = uuid.NewString()
	}
	n.Registreringstidspunkt = time.Now().UTC().Truncate(time.Millisecond)
	if in.Registreringstidspunkt != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Registreringstidspunkt)
		if err != nil {
			return Notice{}, fmt.Errorf("registreringstidspunkt: %w", err)
		}
		n.Registreringstidspunkt = t.UTC()
	}
	switch {
	case in.Kjennelsesdato != "":
		d, err := civil.Parse(in.Kjennelsesdato)
		if err != nil {
			return Notice{}, err
		}
		n.Kjennelsesdato = d
	case n.Type == Aapning:
		n.Kjennelsesdato = civil.Of(n.Registreringstidspunkt)
	}
	if err := n.Validate(); err != nil {
		return Notice{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notices = append(m.notices, mockNotice{Notice: n, Units: n.AssociatedOrgNos})
	m.sort()
	return n, nil
}

func (m *Mock) list(w http.ResponseWriter, r *http.Request, after time.Time) {
	size := m.PageSize
	if size <= 0 {
		size = 100
	}
	m.mu.Lock()
	var sel []Notice
	for _, n := range m.notices {
		if after.IsZero() || n.Registreringstidspunkt.After(after) {
			sel = append(sel, n.Notice)
		}
	}
	m.mu.Unlock()
	page := 0
	fmt.Sscan(r.URL.Query().Get("page"), &page) //nolint:errcheck
	start := min(page*size, len(sel))
	end := min(start+size, len(sel))
	items := []map[string]any{}
	for _, n := range sel[start:end] {
		items = append(items, item(n, base(r)))
	}
	links := map[string]any{"self": map[string]string{"href": base(r) + r.URL.Path}}
	if end < len(sel) {
		links["next"] = map[string]string{"href": fmt.Sprintf("%s?page=%d", r.URL.Path, page+1)}
	}
	writeHAL(w, map[string]any{"_embedded": map[string]any{"konkursvarsler": items}, "_links": links})
}

func item(n Notice, base string) map[string]any {
	it := map[string]any{
		"uuid": n.UUID, "type": n.Type, "debitor": n.Debitor,
		"registreringstidspunkt": n.Registreringstidspunkt.UTC().Format(TimeFormat),
		"_links":                 map[string]any{"self": map[string]string{"href": base + "/konkursvarsler/" + n.UUID}},
	}
	if !n.Kjennelsesdato.IsZero() {
		it["kjennelsesdato"] = n.Kjennelsesdato.String()
	}
	return it
}

func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeHAL(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}
