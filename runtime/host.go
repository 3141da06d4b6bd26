package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// maxBlock caps one guest.Block call; the supervisor's --timeout normally
// ends a worker long before.
const maxBlock = 10 * time.Minute

type instanceKey struct{}

func instanceOf(ctx context.Context) *Instance {
	i, _ := ctx.Value(instanceKey{}).(*Instance)
	return i
}

// exportHost defines the "mpmlab" host module the guest SDK imports:
//
//	block(ns i64)                               guest.Block: hold the instance for ns
//	loop_lag(ns i64)                            one loop-lag sample
//	shared_add(key i32, key_len i32, d i64) i64 guest.Shared.Add
//	shared_get(key i32, key_len i32) i64        guest.Shared.Get
//	shared_set(key i32, key_len i32, v i64)     guest.Shared.Set
func exportHost(b wazero.HostModuleBuilder) wazero.HostModuleBuilder {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn("block", func(ctx context.Context, mod api.Module, stack []uint64) {
		d := min(time.Duration(int64(stack[0])), maxBlock)
		i := instanceOf(ctx)
		if i.cfg.OnBlock != nil {
			i.cfg.OnBlock(true)
		}
		time.Sleep(d) // holds the guest's only thread: nothing else in it runs
		if i.cfg.OnBlock != nil {
			i.cfg.OnBlock(false)
		}
	}, []api.ValueType{i64}, nil)
	fn("loop_lag", func(ctx context.Context, mod api.Module, stack []uint64) {
		if i := instanceOf(ctx); i.cfg.OnLag != nil {
			i.cfg.OnLag(time.Duration(int64(stack[0])))
		}
	}, []api.ValueType{i64}, nil)
	fn("shared_add", func(ctx context.Context, mod api.Module, stack []uint64) {
		key := readKey(mod, stack)
		stack[0] = uint64(instanceOf(ctx).cfg.Shared.Add(key, int64(stack[2])))
	}, []api.ValueType{i32, i32, i64}, []api.ValueType{i64})
	fn("shared_get", func(ctx context.Context, mod api.Module, stack []uint64) {
		stack[0] = uint64(instanceOf(ctx).cfg.Shared.Get(readKey(mod, stack)))
	}, []api.ValueType{i32, i32}, []api.ValueType{i64})
	fn("shared_set", func(ctx context.Context, mod api.Module, stack []uint64) {
		instanceOf(ctx).cfg.Shared.Set(readKey(mod, stack), int64(stack[2]))
	}, []api.ValueType{i32, i32, i64}, nil)
	return b
}

const maxSharedKey = 256

func readKey(mod api.Module, stack []uint64) string {
	n := min(uint32(stack[1]), maxSharedKey)
	b, ok := mod.Memory().Read(uint32(stack[0]), n)
	if !ok {
		panic("mpmlab: shared key out of bounds") // traps the guest
	}
	return string(b)
}

// Shared is the host-backed store behind guest.Shared: named int64 values
// shared by the instances (threads) of one worker process.
type Shared struct {
	mu sync.Mutex
	m  map[string]int64
}

// NewShared returns an empty store.
func NewShared() *Shared { return &Shared{m: map[string]int64{}} }

// Add atomically adds d to key and returns the new value.
func (s *Shared) Add(key string, d int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] += d
	return s.m[key]
}

// Get returns key's value.
func (s *Shared) Get(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// Set stores v under key.
func (s *Shared) Set(key string, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = v
}
