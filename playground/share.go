package playground

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// sharesBucket holds the shares: key the share id, value the experiment's
// canonical JSON (see experiment.Experiment.Canonical).
var sharesBucket = []byte("shares")

// shareStore is the share store: one bbolt file, durable across restarts.
// Shares are content-addressed, so a put is idempotent and never
// overwrites a different experiment.
type shareStore struct {
	db *bolt.DB
}

func openShareStore(path string) (*shareStore, error) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("share store %s is in use by another mpmlab serve (use --data to pick another directory)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open share store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(sharesBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open share store %s: %w", path, err)
	}
	return &shareStore{db: db}, nil
}

// put stores the canonical JSON under id, unless it is already there.
func (s *shareStore) put(id string, canonical []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(sharesBucket)
		if old := b.Get([]byte(id)); old != nil {
			if !bytes.Equal(old, canonical) {
				return fmt.Errorf("share id %s collides with a different experiment", id)
			}
			return nil
		}
		return b.Put([]byte(id), canonical)
	})
}

// get returns the canonical JSON stored under id, or nil.
func (s *shareStore) get(id string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(sharesBucket).Get([]byte(id)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

func (s *shareStore) close() error { return s.db.Close() }

// shareResponse is the answer to POST /api/shares.
type shareResponse struct {
	ID  string `json:"id"`
	URL string `json:"url"` // "/p/<id>"
	// Fragment is the link that carries the whole experiment instead:
	// "/#x=<experiment.EncodeFragment>".
	Fragment string `json:"fragment"`
}

func (s *Server) handleCreateShare(w http.ResponseWriter, r *http.Request) {
	e, ok := decodeExperiment(w, r)
	if !ok {
		return
	}
	id := e.ShareID()
	if err := s.shares.put(id, e.Canonical()); err != nil {
		s.cfg.Logf("share %s: %v", id, err)
		writeError(w, http.StatusInternalServerError, "storing the share: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, shareResponse{ID: id, URL: "/p/" + id, Fragment: "/#x=" + e.EncodeFragment()})
}

func (s *Server) handleGetShare(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !experiment.IsShareID(id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no share %q (a share id is 11 characters of A-Z, a-z, 0-9, - and _)", id))
		return
	}
	data, err := s.shares.get(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the share: "+err.Error())
		return
	}
	if data == nil {
		writeError(w, http.StatusNotFound, "no share "+id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Content-addressed: the same id is always the same experiment.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(append(data, '\n'))
}
