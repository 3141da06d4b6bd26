package playground

import (
	"net/http"
	goruntime "runtime"
)

// hostInfo is the answer to GET /api/host: what machine the runs are
// measured on (a recording carries it, so a recipient knows what the
// numbers came from), and where shares go. The share service's page also
// asks it of a local host to find one that allows its origin.
type hostInfo struct {
	Cores int    `json:"cores"` // runtime.NumCPU
	OS    string `json:"os"`    // runtime.GOOS
	Arch  string `json:"arch"`  // runtime.GOARCH
	Go    string `json:"go"`    // runtime.Version of this binary
	// ShareService is the origin shares are published to (--share-service),
	// "" when they stay in this host's store.
	ShareService string `json:"share_service,omitempty"`
}

func (s *Server) handleHost(w http.ResponseWriter, r *http.Request) {
	info := hostInfo{Cores: goruntime.NumCPU(), OS: goruntime.GOOS, Arch: goruntime.GOARCH, Go: goruntime.Version()}
	if s.cfg.ShareService != "" {
		info.ShareService = s.cfg.ShareService
	}
	writeJSON(w, http.StatusOK, info)
}
