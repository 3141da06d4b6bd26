package validate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		model, real float64
		ratio       float64
		within      bool
	}{
		{100, 100, 1, true},
		{85, 100, 0.85, true},
		{115, 100, 1.15, true},
		{84.9, 100, 0.849, false},
		{115.1, 100, 1.151, false},
		{0, 100, 0, false},
		{5, 0, 0, false},
		{0, 0, 0, true},
	}
	for _, tt := range tests {
		ratio, within := verdict(tt.model, tt.real)
		if within != tt.within || ratio < tt.ratio-1e-9 || ratio > tt.ratio+1e-9 {
			t.Errorf("verdict(%v, %v) = %v, %v; want %v, %v", tt.model, tt.real, ratio, within, tt.ratio, tt.within)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestResultVerdictAndFailed(t *testing.T) {
	tests := []struct {
		name    string
		r       Result
		verdict string
		failed  bool
	}{
		{"within", Result{Within: true, Ratio: 1.02, RealValue: 1}, "within 15%", false},
		{"off", Result{Ratio: 0.7, RealValue: 1}, "off by 30%", true},
		{"off, informational", Result{Ratio: 1.3, RealValue: 1, Informational: true}, "off by 30% (informational)", false},
		{"within, informational", Result{Within: true, Ratio: 1, RealValue: 1, Informational: true}, "within 15% (informational)", false},
		{"skipped", Result{Skipped: "apache2 not found"}, "skipped", false},
		{"error", Result{Error: "exited"}, "error", true},
		{"real zero", Result{ModelValue: 3}, "off (real 0)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Verdict(); got != tt.verdict {
				t.Errorf("Verdict() = %q, want %q", got, tt.verdict)
			}
			if got := tt.r.Failed(); got != tt.failed {
				t.Errorf("Failed() = %v, want %v", got, tt.failed)
			}
		})
	}
}

var sample = []Result{
	{
		Name: "prefork-close", Title: "prefork, 8 processes", Model: "mpmlab process", Real: "Apache/2.4.67 (Debian) prefork",
		Metric: Rate.String(), ModelValue: 151.2, RealValue: 154.9, Ratio: 151.2 / 154.9, Within: true,
		Pairs: []Pair{{150, 155}, {151.2, 154.9}, {152, 154}},
	},
	{
		Name: "event", Title: "event", Model: "mpmlab event", Real: "Apache/2.4.67 (Debian) event",
		Metric: Rate.String(), ModelValue: 50, RealValue: 70, Ratio: 50.0 / 70, Pairs: []Pair{{50, 70}},
		Informational: true, Why: "Apache's own figure varies by half from run to run",
	},
	{
		Name: "nginx-sleep", Model: "mpmlab reactor", Real: "nginx", Metric: Rate.String(),
		Skipped: (&MissingError{What: "nginx", Packages: []string{"nginx", "libnginx-mod-http-lua"}}).Error(),
	},
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sample); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"case           model           real",
		"prefork-close  mpmlab process  Apache/2.4.67 (Debian) prefork  req/s answered within the load  151    155   0.98   within 15%",
		"event          mpmlab event    Apache/2.4.67 (Debian) event    req/s answered within the load  50     70    0.71   off by 29% (informational)",
		"nginx-sleep    mpmlab reactor  nginx                           req/s answered within the load  -      -     -      skipped",
		"prefork-close: prefork, 8 processes; model/real by pair: 150/155, 151/155, 152/154 (ratios 0.97 to 0.99)",
		"  informational: Apache's own figure varies by half from run to run",
		"nginx-sleep: skipped: nginx not found: install the Debian packages nginx, libnginx-mod-http-lua (apt-get install nginx libnginx-mod-http-lua)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cases []map[string]any `json:"cases"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Cases) != len(sample) {
		t.Fatalf("%d cases, want %d", len(got.Cases), len(sample))
	}
	for _, key := range []string{"name", "model", "real", "metric", "model_value", "real_value", "ratio", "within"} {
		for i, c := range got.Cases {
			if _, ok := c[key]; !ok {
				t.Errorf("case %d lacks %q: %v", i, key, c)
			}
		}
	}
	if c := got.Cases[0]; c["within"] != true || c["model_value"] != 151.2 || c["name"] != "prefork-close" {
		t.Errorf("case 0 = %v", c)
	}
	if c := got.Cases[2]; c["within"] != false || !strings.Contains(c["skipped"].(string), "libnginx-mod-http-lua") {
		t.Errorf("case 2 = %v", c)
	}

	b.Reset()
	if err := WriteJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(b.String()), ""); got != `{"cases":[]}` {
		t.Errorf("no results: %s", got)
	}
}
