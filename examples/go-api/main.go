// A small JSON API in Go, statically linked: the service's own binary and nothing else of Go.
// GET /report.gz, linked from nowhere (the nightly job fetches it), pipes the report through the
// system's gzip with os/exec: Go's strings carry no terminator, so the name "gzip" is found
// through the code that loads it.
package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
)

const report = "region,total\nnorth,120\nsouth,95\n"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"service": "go-api", "regions": 2}`)
	})
	http.HandleFunc("/report.gz", func(w http.ResponseWriter, r *http.Request) {
		cmd := exec.Command("gzip", "-9", "-n", "-c")
		cmd.Stdin = strings.NewReader(report)
		packed, err := cmd.Output()
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(packed)
	})
	fmt.Println("listening on 8084")
	if err := http.ListenAndServe(":8084", nil); err != nil {
		panic(err)
	}
}
