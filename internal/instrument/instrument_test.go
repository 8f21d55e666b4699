package instrument_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/instrument"
)

// TestConnectBucketsResolveAttemptTimeout: the connect-duration buckets
// tell the durations an on-call engineer reads apart. With the old
// semconv buckets (… 1, 5, 10 s) every connect that gave up after one
// 2 s attempt landed in (1, 5], and p99 read 4.96 s for a true 2.05 s.
// Now the bucket of a duration around the default AttemptTimeout (2 s),
// and of up to MaxAttempts (3) attempts with their backoff, is at most
// half its lower bound wide, and a 1.6 s success is told from a 2.05 s
// failure.
func TestConnectBucketsResolveAttemptTimeout(t *testing.T) {
	b := instrument.ConnectBuckets
	if !slices.IsSorted(b) {
		t.Fatalf("buckets not sorted: %v", b)
	}
	bucket := func(d time.Duration) (lo, hi float64) {
		s := d.Seconds()
		i, _ := slices.BinarySearch(b, s) // the first bound ≥ s: Prometheus' le
		if i == 0 || i == len(b) {
			t.Fatalf("%v is outside the buckets %v", d, b)
		}
		return b[i-1], b[i]
	}
	const attempt = 2 * time.Second // connector's default AttemptTimeout
	for _, d := range []time.Duration{
		attempt + 50*time.Millisecond,    // one attempt timed out
		2*attempt + 150*time.Millisecond, // two, and a backoff
		3*attempt + 2*time.Second,        // three, and the longest backoffs
		attempt - 400*time.Millisecond,   // a slow success
		attempt/2 + 100*time.Millisecond, // a slower handshake
	} {
		lo, hi := bucket(d)
		if (hi-lo)/lo > 0.5 {
			t.Errorf("%v lands in (%v, %v]: too wide to read", d, lo, hi)
		}
	}
	if lo, _ := bucket(attempt + 50*time.Millisecond); lo < attempt.Seconds() {
		t.Errorf("a 2.05 s connect shares a bucket with ones under AttemptTimeout (lower bound %v)", lo)
	}
	if _, hi := bucket(attempt - 400*time.Millisecond); hi > attempt.Seconds() {
		t.Errorf("a 1.6 s connect shares a bucket with ones over AttemptTimeout (upper bound %v)", hi)
	}
}
