package share

import (
	"bytes"
	"context"
	"fmt"
	"sync"
)

// MemStore is a Store in memory, for tests and examples. Its zero value is
// ready to use.
type MemStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Put stores data under key unless it is there already; a different value
// under an existing key is an error (a collision).
func (s *MemStore) Put(_ context.Context, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		if !bytes.Equal(old, data) {
			return fmt.Errorf("key %s collides with different content", key)
		}
		return nil
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = bytes.Clone(data)
	return nil
}

// Get returns a copy of the value under key, or nil.
func (s *MemStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.m[key]), nil
}
