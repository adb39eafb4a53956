package monitor_test

import (
	"fmt"
	"testing"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// BenchmarkReconcileUnchanged is what every round pays for monitors as
// code when the file has not changed: 1,000 declared monitors, all
// stored, compared and none written.
func BenchmarkReconcileUnchanged(b *testing.B) {
	st := memory.New()
	declared := make([]monitor.Monitor, 1000)
	for i := range declared {
		declared[i] = monitor.Monitor{Host: fmt.Sprintf("http://127.0.0.1:%d/health", 1000+i), Settings: monitor.Settings{
			Name: fmt.Sprint("m", i), Conditions: []string{"[STATUS] == 200"}, Headers: map[string]string{"X-Key": "k"},
		}}
	}
	if _, err := monitor.Reconcile(b.Context(), st, declared); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ch, err := monitor.Reconcile(b.Context(), st, declared)
		if err != nil || !ch.Empty() {
			b.Fatal(ch, err)
		}
	}
}
