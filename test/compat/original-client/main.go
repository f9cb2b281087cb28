// Command original-client is a client of the original CNC monitor API, built on the original
// design's SensorData and Machine structs (seed document, "Data Models"), field for field. It
// uses only Go's standard library (Debian's golang-go builds it offline).
//
//	original-client marshal <machine> <n>          n readings as the original publishers marshal them, one per line
//	original-client check <base URL> <machine> <n>  register a machine, list machines, read <machine>'s data
//	                                               following Link rel="next", expect n readings; prints a summary
//
// Run by test/integration/api-compat-go.test.ts.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"time"
)

type SensorData struct {
	MachineID          string    `json:"machine_id"`
	Temperature        float64   `json:"temperature"`
	SpindleSpeed       float64   `json:"spindle_speed"`
	Timestamp          time.Time `json:"timestamp"`
	XPosMM             float64   `json:"x_pos_mm"`
	YPosMM             float64   `json:"y_pos_mm"`
	ZPosMM             float64   `json:"z_pos_mm"`
	FeedRateActual     float64   `json:"feed_rate_actual"`
	SpindleLoadPercent float64   `json:"spindle_load_percent"`
	MachineState       string    `json:"machine_state"`
	ActiveProgramLine  int       `json:"active_program_line"`
	TotalPowerKW       float64   `json:"total_power_kw"`
}

type Machine struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Location           string    `json:"location"`
	ControllerType     string    `json:"controller_type"`
	MaxSpindleSpeedRPM int       `json:"max_spindle_speed_rpm"`
	AxisCount          int       `json:"axis_count"`
	CreatedAt          time.Time `json:"created_at"`
	LastUpdated        time.Time `json:"last_updated"`
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "original-client: "+format+"\n", a...)
	os.Exit(1)
}

// decodeStrict is json.Unmarshal that also refuses fields the struct does not have.
func decodeStrict(body []byte, v interface{}) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

var nextRe = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

func marshal(machine string, n int) {
	for i := 0; i < n; i++ {
		data := SensorData{
			MachineID: machine, Temperature: 45.5 + float64(i)/8, SpindleSpeed: 1200.0, Timestamp: time.Now().UTC(),
			XPosMM: 120.25, YPosMM: 80.5, ZPosMM: -15.75, FeedRateActual: 250.0, SpindleLoadPercent: 35.2,
			MachineState: "RUNNING", ActiveProgramLine: i, TotalPowerKW: 7.8,
		}
		b, err := json.Marshal(data)
		if err != nil {
			fail("marshal: %v", err)
		}
		fmt.Println(string(b))
		time.Sleep(time.Microsecond)
	}
}

func check(base, machine string, want int) {
	// POST the full struct (created_at and last_updated included) without a Content-Type.
	body, _ := json.Marshal(Machine{ID: machine, Name: "Mill", Location: "Hall A"})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/machines", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("POST: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created Machine
	if resp.StatusCode != http.StatusCreated {
		fail("POST /api/v1/machines: %d %s", resp.StatusCode, b)
	}
	if err := decodeStrict(b, &created); err != nil || created.ID != machine || created.CreatedAt.IsZero() {
		fail("POST answer %s: %v", b, err)
	}

	resp, err = http.Get(base + "/api/v1/machines")
	if err != nil {
		fail("GET machines: %v", err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var machines []Machine
	if err := decodeStrict(b, &machines); err != nil {
		fail("GET /api/v1/machines into []Machine: %v", err)
	}

	// Read the data, a small page at a time, following rel="next" as RFC 8288 says.
	next, _ := url.Parse(base + "/api/v1/machines/" + url.PathEscape(machine) + "/data?limit=" + strconv.Itoa(want/3+1))
	var all []SensorData
	pages := 0
	for next != nil {
		resp, err := http.Get(next.String())
		if err != nil {
			fail("GET data: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page []SensorData
		if err := decodeStrict(b, &page); err != nil {
			fail("GET %s into []SensorData: %v", next, err)
		}
		all = append(all, page...)
		pages++
		next = nil
		if m := nextRe.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			if next, err = resp.Request.URL.Parse(m[1]); err != nil {
				fail("Link %q: %v", m[1], err)
			}
		}
	}
	if len(all) != want {
		fail("%d readings, want %d", len(all), want)
	}
	for i, d := range all {
		if d.ActiveProgramLine != i || d.MachineID != machine || d.MachineState != "RUNNING" || d.Timestamp.IsZero() {
			fail("reading %d: %+v", i, d)
		}
	}
	out, _ := json.Marshal(map[string]interface{}{"machines": len(machines), "readings": len(all), "pages": pages, "first": all[0]})
	fmt.Println(string(out))
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "marshal" {
		n, _ := strconv.Atoi(os.Args[3])
		marshal(os.Args[2], n)
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "check" {
		n, _ := strconv.Atoi(os.Args[4])
		check(os.Args[2], os.Args[3], n)
		return
	}
	fail("usage: original-client marshal <machine> <n> | check <base URL> <machine> <n>")
}
