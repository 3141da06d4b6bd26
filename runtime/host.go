package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/runtime/internal/timeline"
	"github.com/mpmlab/mpmlab/wasm/abi"
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
//	block(ns i64, id i32, where i32, where_len i32)  guest.Block: hold the instance for ns
//	span(begin i32, id i32, where i32, where_len i32) guest.Compute starts (1) or ends (0)
//	req_begin(id i32)                                 request id's handler starts
//	req_end(id i32) i32                               it returned; 1: send req_where
//	req_where(id i32, where i32, where_len i32)       the handler's position
//	loop_lag(ns i64)                                  one loop-lag sample
//	shared_add(key i32, key_len i32, d i64) i64       guest.Shared.Add
//	shared_get(key i32, key_len i32) i64              guest.Shared.Get
//	shared_set(key i32, key_len i32, v i64)           guest.Shared.Set
//	pool_submit(token i32, work i32, ns i64, id i32, where i32, where_len i32) i32
//	                                                  guest.Pool: run work (abi.WorkCompute,
//	                                                  abi.WorkBlock) for ns on the worker's
//	                                                  thread pool; 0: queued, token is woken
//	                                                  on the wake fd once done; n > 0: refused,
//	                                                  n tasks wait (the queue is full)
//	yield(token i32)                                  guest.Yield: wake token on the wake fd
//	                                                  once the loop next polls
//
// id is the request's frame id (0: the SDK could not tell which request
// called); where is a position in the handler's source, "main.go:22". The
// request marks feed the instance's timeline (timeline.Timeline). A token
// is the guest's own: the host echoes it in an abi.Wake record on
// abi.WakeFD.
func exportHost(b wazero.HostModuleBuilder) wazero.HostModuleBuilder {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn("block", func(ctx context.Context, mod api.Module, stack []uint64) {
		d := min(time.Duration(int64(stack[0])), maxBlock)
		i := instanceOf(ctx)
		if i.tl != nil {
			i.tl.SpanBegin(uint32(stack[1]), timeline.Block, readWhere(mod, stack[2], stack[3]), time.Now().UnixNano())
		}
		if i.cfg.OnBlock != nil {
			i.cfg.OnBlock(true)
		}
		sleepThread(d) // holds the guest's only thread: nothing else in it runs
		if i.cfg.OnBlock != nil {
			i.cfg.OnBlock(false)
		}
		if i.tl != nil {
			i.tl.SpanEnd(uint32(stack[1]), time.Now().UnixNano())
		}
	}, []api.ValueType{i64, i32, i32, i32}, nil)
	fn("span", func(ctx context.Context, mod api.Module, stack []uint64) {
		i := instanceOf(ctx)
		if i.tl == nil {
			return
		}
		if now := time.Now().UnixNano(); stack[0] != 0 {
			i.tl.SpanBegin(uint32(stack[1]), timeline.Compute, readWhere(mod, stack[2], stack[3]), now)
		} else {
			i.tl.SpanEnd(uint32(stack[1]), now)
		}
	}, []api.ValueType{i32, i32, i32, i32}, nil)
	fn("req_begin", func(ctx context.Context, mod api.Module, stack []uint64) {
		if i := instanceOf(ctx); i.tl != nil {
			now := time.Now()
			i.tl.Begin(uint32(stack[0]), now.UnixNano())
			i.mu.Lock()
			if st := i.pending[uint32(stack[0])]; st != nil {
				st.began.Store(true)
			}
			i.mu.Unlock()
			if i.cfg.OnHandlerStart != nil {
				i.cfg.OnHandlerStart(uint32(stack[0]), now)
			}
		}
	}, []api.ValueType{i32}, nil)
	fn("req_end", func(ctx context.Context, mod api.Module, stack []uint64) {
		i, id := instanceOf(ctx), uint32(stack[0])
		stack[0] = 0
		if i.tl == nil {
			return
		}
		p, ok := i.tl.End(id, time.Now().UnixNano())
		if !ok {
			return
		}
		i.ended[id] = p
		if p.HoldWhere == "" && p.Hold >= whereAfter {
			stack[0] = 1 // a long hold in the handler's own code: ask where it is
		}
	}, []api.ValueType{i32}, []api.ValueType{i32})
	fn("req_where", func(ctx context.Context, mod api.Module, stack []uint64) {
		i, id := instanceOf(ctx), uint32(stack[0])
		if p, ok := i.ended[id]; ok && i.tl != nil {
			i.tl.SetWhere(id, readWhere(mod, stack[1], stack[2]), &p)
			i.ended[id] = p
		}
	}, []api.ValueType{i32, i32, i32}, nil)
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
	fn("pool_submit", func(ctx context.Context, mod api.Module, stack []uint64) {
		i := instanceOf(ctx)
		where := readWhere(mod, stack[4], stack[5])
		stack[0] = uint64(i.cfg.Pool.submit(i, uint32(stack[0]), uint32(stack[1]), time.Duration(int64(stack[2])), uint32(stack[3]), where))
	}, []api.ValueType{i32, i32, i64, i32, i32, i32}, []api.ValueType{i32})
	fn("yield", func(ctx context.Context, mod api.Module, stack []uint64) {
		instanceOf(ctx).conn.WakeNextPass(abi.Wake{Token: uint32(stack[0])})
	}, []api.ValueType{i32}, nil)
	return b
}

// whereAfter is the shortest hold in a handler's own code whose position
// the host asks the SDK for (finding it costs the SDK a second routing).
const whereAfter = int64(time.Millisecond)

// maxWhere caps a position string from the guest.
const maxWhere = 256

// readWhere reads a position string from guest memory ("" if out of bounds).
func readWhere(mod api.Module, ptr, n uint64) string {
	b, ok := mod.Memory().Read(uint32(ptr), min(uint32(n), maxWhere))
	if !ok {
		return ""
	}
	return string(b)
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
