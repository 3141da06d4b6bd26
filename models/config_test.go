package models

import (
	"reflect"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// WithDefaults keeps every field set: a knob as set (or its finer value),
// and every field that is not a knob as it was. A field added to Config
// that WithDefaults forgets fails here (as Files and Env once were lost,
// and with them every data file a handler opens).
func TestWithDefaultsKeepsEveryField(t *testing.T) {
	c := Config{
		Model: Reactor, Wasm: "/x.wasm", Files: []experiment.File{{Name: "data.json", Data: "{}"}}, Env: []string{"A=1"},
		Addr: "127.0.0.1:1", Backlog: 7, StartServers: 3, MinSpare: 1, MaxSpare: 5, MaxRequestWorkers: 9,
		Processes: 2, ThreadsPerChild: 3, AsyncRequestWorkerFactor: 4, Loops: 2, Connections: 33,
		MaxConnectionsPerChild: 10, KeepAlive: true, KeepAliveTimeout: 1500 * time.Microsecond, MaxKeepAliveRequests: 7,
		Timeout: 2500 * time.Microsecond, LimitRequestBody: 1000, MemoryLimit: 40<<20 + 1, ThreadPoolThreads: 3, ThreadPoolMaxQueue: 9,
		CacheDir: "/cache", Trace: true, NoPhases: true, ServeWhileCompiling: true, KeepCompileMemory: true, Executable: "/bin/x",
		OnEvent: func(stream.Event) {}, Logf: func(string, ...any) {},
	}
	d := c.WithDefaults()
	cv, dv := reflect.ValueOf(c), reflect.ValueOf(d)
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		a, b := cv.Field(i), dv.Field(i)
		if f.Type.Kind() == reflect.Func {
			if a.IsNil() != b.IsNil() {
				t.Errorf("WithDefaults lost %s", f.Name)
			}
			continue
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			t.Errorf("WithDefaults changed %s from %v to %v", f.Name, a.Interface(), b.Interface())
		}
	}
}
