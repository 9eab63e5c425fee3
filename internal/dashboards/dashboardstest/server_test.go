package dashboardstest

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fake refuses what Dashboards refuses, so a client that passes against
// it sends what Dashboards needs.
func TestRefusesWhatDashboardsRefuses(t *testing.T) {
	s := New(t)
	form := func(filename string) (*bytes.Buffer, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		w, _ := mw.CreateFormFile("file", filename)
		io.WriteString(w, `{"type":"index-pattern","id":"a","attributes":{"title":"a-*"},"references":[]}`+"\n")
		mw.Close()
		return &b, mw.FormDataContentType()
	}
	for _, tc := range []struct {
		name     string
		xsrf     bool
		filename string
		status   int
		body     string
	}{
		{"no osd-xsrf", false, "a.ndjson", 400, "Request must contain a osd-xsrf header."},
		{"not .ndjson", true, "a.json", 415, "Invalid file extension .json"},
		{"ok", true, "a.ndjson", 200, `"successCount":1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := form(tc.filename)
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/saved_objects/_import?overwrite=true", body)
			req.Header.Set("Content-Type", ct)
			if tc.xsrf {
				req.Header.Set("osd-xsrf", "true")
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, tc.status, res.StatusCode, string(b))
			require.True(t, strings.Contains(string(b), tc.body), string(b))
		})
	}
}
