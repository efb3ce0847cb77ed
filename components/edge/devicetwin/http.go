package devicetwin

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// HTTPPrefix is where the lead mounts HTTPHandler on the edge's local API.
const HTTPPrefix = "/devicetwin/"

// httpError is the body of a failed HTTP request.
type httpError struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// HTTPHandler serves the stored devices for local clients, from meta.db
// (works offline):
//
//	GET /devicetwin/devices       JSON array of devices with their twins
//	GET /devicetwin/devices/{id}  one device; 404 with a JSON error if unknown
func (t *DeviceTwin) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devicetwin/devices", t.serveList)
	mux.HandleFunc("GET /devicetwin/devices/{id}", t.serveDevice)
	mux.HandleFunc("/devicetwin/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, httpError{Code: http.StatusMethodNotAllowed, Reason: "method " + r.Method + " is not allowed"})
			return
		}
		writeJSON(w, http.StatusNotFound, httpError{Code: http.StatusNotFound, Reason: "no such resource: " + r.URL.Path})
	})
	return mux
}

func (t *DeviceTwin) serveList(w http.ResponseWriter, _ *http.Request) {
	devices, err := t.Devices()
	if err != nil {
		t.log.Error(err, "list devices for HTTP")
		writeJSON(w, http.StatusInternalServerError, httpError{Code: http.StatusInternalServerError, Reason: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, devices)
}

func (t *DeviceTwin) serveDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, found, err := t.Device(id)
	switch {
	case err != nil:
		t.log.Error(err, "get device for HTTP", "device", id)
		writeJSON(w, http.StatusInternalServerError, httpError{Code: http.StatusInternalServerError, Reason: err.Error()})
	case !found:
		writeJSON(w, http.StatusNotFound, httpError{Code: http.StatusNotFound, Reason: fmt.Sprintf("device %q not found", id)})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body = []byte(`{"code":500,"reason":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
