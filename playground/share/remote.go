package share

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RemoteStore is a Store that is another share host: `mpmlab serve
// --share-service https://…` publishes through it, so a local page's Share
// lands on the public service, sent by the host (no CORS in the page).
// Put of a share posts the experiment to POST /api/shares, and of a blob
// to POST /api/blobs; Get reads GET /api/shares/{id} or /api/blobs/{id}.
// The service checks what it is sent as this host did, and computes the
// same ids: a Put whose id the service does not confirm is an error.
//
// # Notes
//
//   - A refusal of the service (429, 413, …) comes back as a *StatusError,
//     which Handler answers with the service's status and words.
type RemoteStore struct {
	// Base is the service's origin, e.g. https://mpmlab-share.example.workers.dev.
	Base string
	// Client sends the requests (default: one with remoteTimeout).
	Client *http.Client
}

// remoteTimeout bounds one request to the share service (a blob is up to
// MaxBlobSize).
const remoteTimeout = 60 * time.Second

// StatusError is an answer of another share host other than 2xx.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// NewRemoteStore checks base (an http or https origin) and returns its
// store.
func NewRemoteStore(base string) (*RemoteStore, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("share service %q: want an origin such as https://mpmlab-share.example.workers.dev", base)
	}
	return &RemoteStore{Base: u.Scheme + "://" + u.Host}, nil
}

func (s *RemoteStore) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: remoteTimeout}
}

func (s *RemoteStore) do(ctx context.Context, method, path, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("share service %s: %w", s.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBlobSize+1))
	if err != nil {
		return 0, nil, fmt.Errorf("share service %s: %w", s.Base, err)
	}
	return resp.StatusCode, data, nil
}

// refusal turns a non-2xx answer into a *StatusError with the service's
// message.
func (s *RemoteStore) refusal(status int, data []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
		if len(e.Error) > 200 {
			e.Error = e.Error[:200]
		}
	}
	return &StatusError{Status: status, Message: "share service " + s.Base + ": " + e.Error}
}

// Put sends a share or a blob to the service.
func (s *RemoteStore) Put(ctx context.Context, key string, data []byte) error {
	var path, ctype, id string
	switch {
	case strings.HasPrefix(key, SharePrefix):
		path, ctype, id = "/api/shares", "application/json", strings.TrimPrefix(key, SharePrefix)
	case strings.HasPrefix(key, BlobPrefix):
		path, ctype, id = "/api/blobs", "application/octet-stream", strings.TrimPrefix(key, BlobPrefix)
	default:
		return fmt.Errorf("share service: key %q is neither a share nor a blob", key)
	}
	status, body, err := s.do(ctx, "POST", path, ctype, data)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return s.refusal(status, body)
	}
	var res struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &res) != nil || res.ID != id {
		return fmt.Errorf("share service %s stored %s as %q: it computes ids differently (another mpmlab version?)", s.Base, id, res.ID)
	}
	return nil
}

// Get reads a share or a blob from the service; nil if it has none.
func (s *RemoteStore) Get(ctx context.Context, key string) ([]byte, error) {
	path := ""
	switch {
	case strings.HasPrefix(key, SharePrefix):
		path = "/api/shares/" + strings.TrimPrefix(key, SharePrefix)
	case strings.HasPrefix(key, BlobPrefix):
		path = "/api/blobs/" + strings.TrimPrefix(key, BlobPrefix)
	default:
		return nil, fmt.Errorf("share service: key %q is neither a share nor a blob", key)
	}
	status, body, err := s.do(ctx, "GET", path, "", nil)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotFound:
		return nil, nil
	case status != http.StatusOK:
		return nil, s.refusal(status, body)
	}
	if strings.HasPrefix(key, SharePrefix) {
		body = bytes.TrimSuffix(body, []byte("\n"))
	}
	return body, nil
}
