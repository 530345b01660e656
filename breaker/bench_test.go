package breaker

import (
	"context"
	"testing"
	"time"
)

func benchBreaker(b *testing.B, cfg Config) *Breaker {
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"consecutive", Config{}},
		{"countWindow", Config{FailureRate: 0.5, WindowSize: 100}},
		{"timeWindow", Config{FailureRate: 0.5, WindowDuration: 10 * time.Second}},
		{"slowCalls", Config{SlowCallRate: 0.5, SlowCallDuration: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br := benchBreaker(b, bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Execute(ctx, ok)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			br := benchBreaker(b, bc.cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Execute(ctx, ok)
				}
			})
		})
	}
}

func BenchmarkAllowDone(b *testing.B) {
	br := benchBreaker(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		tok, err := br.Allow()
		if err == nil {
			tok.Done(nil)
		}
	}
}

func BenchmarkReject(b *testing.B) {
	br := benchBreaker(b, Config{})
	br.ForceOpen()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = br.Allow()
	}
}

func BenchmarkMetrics(b *testing.B) {
	br := benchBreaker(b, Config{FailureRate: 0.5, WindowDuration: 10 * time.Second})
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Metrics()
	}
}
