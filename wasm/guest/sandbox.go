package guest

// The sandbox's built-ins: time zones and MIME types (see the package
// doc, "The sandbox").

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
