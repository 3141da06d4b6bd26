package guest

// The sandbox a handler runs in, and what the SDK builds into it.
//
// # Files, environment, time zones, MIME types
//
// Under the mpmlab host (GOOS=wasip1) a handler sees a file system of its
// own, in memory, made by the host (runtime.Files, package vwasi):
//
//   - The experiment's files (main.go and its data files: data.json,
//     index.html, site.css...) at the root "/", which is also the working
//     directory: os.ReadFile("data.json"), template.ParseFiles("page.html"),
//     http.FileServer(http.Dir(".")) and os.DirFS(".") all work. They are
//     read-only: writing, creating, removing or renaming one fails with
//     "read-only file system" (EROFS).
//   - /tmp (os.TempDir()), writable, in memory, its own per instance (a
//     thread's or a loop's; lost when the instance ends), at most 16 MiB in
//     all: a write past that fails with "no space left on device"
//     (ENOSPC). Multipart parts past ParseMultipartForm's maxMemory go
//     there, as under net/http.
//   - The experiment's environment ("env" in its JSON, --env NAME=value on
//     mpmlab run and bench): os.Getenv. Names starting with MPMLAB_ are the
//     host's own (Worker reads them).
//   - Time zones: the SDK imports time/tzdata, so time.LoadLocation
//     ("Europe/Paris") works everywhere (about 450 KB of every build).
//   - MIME types: the SDK registers the common extensions (mimeTypes), so
//     mime.TypeByExtension and http.FileServer's Content-Type do not depend
//     on the machine's /etc/mime.types.
//
// # What a handler cannot do, and the error it sees
//
//   - Reach the host's files: there are none in its file system;
//     os.ReadFile("/etc/passwd") fails with "no such file or directory".
//   - Open a network connection: Go on wasip1 has no sockets;
//     net.Dial("tcp", "example.com:80") and http.Get fail (the error names
//     the address, e.g. "dial tcp: lookup example.com: Connection refused"
//     or "... not implemented on wasip1").
//   - Start a process: os/exec fails with "fork/exec ...: not implemented on
//     wasip1" (ENOSYS).
//
// In the browser (GOOS=js) the handler has none of the above files or
// environment: only tzdata and the MIME types, built in.

import (
	"mime"
	_ "time/tzdata" // time.LoadLocation without the machine's zoneinfo
)

// mimeTypes are the extensions the SDK registers with package mime, over
// the few Go knows by itself, so that a handler's Content-Type is the same
// wherever it runs.
var mimeTypes = map[string]string{
	".atom":        "application/atom+xml",
	".avif":        "image/avif",
	".bmp":         "image/bmp",
	".css":         "text/css; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".gif":         "image/gif",
	".gz":          "application/gzip",
	".htm":         "text/html; charset=utf-8",
	".html":        "text/html; charset=utf-8",
	".ico":         "image/vnd.microsoft.icon",
	".ics":         "text/calendar; charset=utf-8",
	".jpeg":        "image/jpeg",
	".jpg":         "image/jpeg",
	".js":          "text/javascript; charset=utf-8",
	".json":        "application/json",
	".jsonld":      "application/ld+json",
	".map":         "application/json",
	".md":          "text/markdown; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".mp3":         "audio/mpeg",
	".mp4":         "video/mp4",
	".oga":         "audio/ogg",
	".ogg":         "audio/ogg",
	".ogv":         "video/ogg",
	".otf":         "font/otf",
	".pdf":         "application/pdf",
	".png":         "image/png",
	".rss":         "application/rss+xml",
	".sql":         "application/sql",
	".svg":         "image/svg+xml",
	".tar":         "application/x-tar",
	".tif":         "image/tiff",
	".tiff":        "image/tiff",
	".tmpl":        "text/plain; charset=utf-8",
	".toml":        "application/toml",
	".tsv":         "text/tab-separated-values; charset=utf-8",
	".ttf":         "font/ttf",
	".txt":         "text/plain; charset=utf-8",
	".wasm":        "application/wasm",
	".wav":         "audio/wav",
	".webm":        "video/webm",
	".webmanifest": "application/manifest+json",
	".webp":        "image/webp",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".xml":         "text/xml; charset=utf-8",
	".yaml":        "application/yaml",
	".yml":         "application/yaml",
	".zip":         "application/zip",
}

func init() {
	for ext, typ := range mimeTypes {
		mime.AddExtensionType(ext, typ)
	}
}
