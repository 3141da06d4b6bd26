// files serves a small site from the experiment's own files, as a real
// handler does: a template (page.html) parsed at start, its data
// (data.json) read on every request, a stylesheet through
// http.FileServer, a time zone, and GREETING from the environment.
package main

import (
	"cmp"
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	page := template.Must(template.ParseFiles("page.html"))
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir("."))))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("data.json") // read-only: the experiment's own file
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var data struct{ City, Zone string }
		if err := json.Unmarshal(b, &data); err != nil {
			http.Error(w, "data.json: "+err.Error(), http.StatusInternalServerError)
			return
		}
		loc, err := time.LoadLocation(data.Zone) // tzdata is built into the SDK
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]string{
			"Greeting": cmp.Or(os.Getenv("GREETING"), "Hello"), // --env GREETING=Bonjour
			"City":     data.City,
			"Time":     time.Now().In(loc).Format("15:04 MST"),
			"Worker":   guest.Worker().String(),
		})
	})
	guest.Serve(nil)
}
