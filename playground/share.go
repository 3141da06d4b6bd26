package playground

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mpmlab/mpmlab/playground/share"
)

// The store's buckets. sharesBucket holds the shares: key the share id,
// value the experiment's canonical JSON (experiment.Experiment.Canonical).
// blobsBucket holds the blobs a share names: key the blob id.
var (
	sharesBucket = []byte("shares")
	blobsBucket  = []byte("blobs")
)

// boltStore is the share store of `mpmlab serve`: one bbolt file, durable
// across restarts, a share.Store. Keys are content addresses, so a put is
// idempotent and never overwrites different content.
type boltStore struct {
	db *bolt.DB
}

func openBoltStore(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("share store %s is in use by another mpmlab serve (use --data to pick another directory)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open share store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{sharesBucket, blobsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open share store %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

// bucket maps a share.Store key to its bucket and the key within it.
func bucket(key string) ([]byte, []byte, error) {
	if id, ok := strings.CutPrefix(key, share.SharePrefix); ok {
		return sharesBucket, []byte(id), nil
	}
	if id, ok := strings.CutPrefix(key, share.BlobPrefix); ok {
		return blobsBucket, []byte(id), nil
	}
	return nil, nil, fmt.Errorf("share store: key %q has no bucket", key)
}

// Put stores data under key, unless it is already there.
func (s *boltStore) Put(_ context.Context, key string, data []byte) error {
	name, k, err := bucket(key)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if old := b.Get(k); old != nil {
			if !bytes.Equal(old, data) {
				return fmt.Errorf("%s collides with different content", key)
			}
			return nil
		}
		return b.Put(k, data)
	})
}

// Get returns the value stored under key, or nil.
func (s *boltStore) Get(_ context.Context, key string) ([]byte, error) {
	name, k, err := bucket(key)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(name).Get(k); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

func (s *boltStore) close() error { return s.db.Close() }
