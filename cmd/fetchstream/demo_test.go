package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The demo runs offline through the Go client and prints the four results
// in the order asked, the 404 as an http_error, and a wall time near the
// longest delay rather than the sum.
func TestDemoPrintsTheSeedScenarioInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, &out, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("demo: %v\n%s", err, &out)
	}
	rows := regexp.MustCompile(`(?m)^(\d)  (\d{3}) +(\S*) +\d+ +http://[^/]+(/\S+)$`).FindAllStringSubmatch(out.String(), -1)
	want := [][3]string{{"200", "", "/delay/1"}, {"200", "", "/delay/2"}, {"200", "", "/delay/3"}, {"404", "http_error", "/status/404"}}
	if len(rows) != len(want) {
		t.Fatalf("got %d result rows, want %d:\n%s", len(rows), len(want), &out)
	}
	for i, row := range rows {
		if row[1] != string(rune('0'+i)) || row[2] != want[i][0] || row[3] != want[i][1] || row[4] != want[i][2] {
			t.Errorf("row %d: %q, want #%d %v", i, row[0], i, want[i])
		}
	}
	wall := regexp.MustCompile(`wall time (\d+\.\d+)s for 4 URLs; one at a time they would take (\d+\.\d+)s`).FindStringSubmatch(out.String())
	if wall == nil {
		t.Fatalf("no wall time line:\n%s", &out)
	}
	if parallel, serial := mustFloat(t, wall[1]), mustFloat(t, wall[2]); parallel >= serial {
		t.Errorf("wall time %ss is not below the one-at-a-time %ss: the URLs were not fetched concurrently", wall[1], wall[2])
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
