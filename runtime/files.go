package runtime

import "github.com/mpmlab/mpmlab/runtime/internal/vwasi"

// DefaultTmpLimit is the most bytes the files in an instance's /tmp may
// hold together (InstanceConfig.TmpLimit).
const DefaultTmpLimit = vwasi.DefaultTmpLimit

// Files is the read-only file system an instance sees at its root: an
// experiment's own files (data.json, templates, static files), so that
// os.ReadFile("data.json"), template.ParseFiles and http.Dir(".") work in
// the guest. Build one per worker process and give it to every instance
// (InstanceConfig.Files); nothing ever changes it.
//
//	files, err := runtime.NewFiles(map[string][]byte{"data.json": data})
//	inst, err := mod.Start(ctx, runtime.InstanceConfig{Files: files})
//
// # Notes
//
//   - The root is the guest's working directory. Each instance also has a
//     /tmp of its own, in memory, writable up to InstanceConfig.TmpLimit
//     bytes (ENOSPC past it). Anything else that would change the tree
//     fails with EROFS ("read-only file system"). Nothing of the host's
//     file system is reachable. See package vwasi, fs.go.
type Files struct{ fs *vwasi.FS }

// NewFiles returns the file system holding files, by slash-separated path
// relative to the root ("data.json", "static/site.css"). A path that is not
// clean and relative, or that lies in /tmp, is an error.
func NewFiles(files map[string][]byte) (*Files, error) {
	fs, err := vwasi.NewFS(files)
	if err != nil {
		return nil, err
	}
	return &Files{fs: fs}, nil
}

func (f *Files) vfs() *vwasi.FS {
	if f == nil {
		return nil
	}
	return f.fs
}
