package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sessionsDesc describes the sessions gauge.
var sessionsDesc = prometheus.NewDesc("rp_sessions_active",
	"Signed-in sessions in the session store whose idle timeout and lifetime have not run out, across every instance "+
		"sharing the store (counted at most once a minute). Absent when the store cannot be read.", nil, nil)

// SessionsActive adds the rp_sessions_active gauge, read with count at most
// once per every: scrapes in between, from any number of scrapers, get the
// last value. When count fails the gauge is left out of that scrape (the
// store errors counter shows why) rather than reported stale.
func (m *Metrics) SessionsActive(count func(context.Context) (int64, error), every time.Duration) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&sessionsCollector{count: count, every: every, now: time.Now})
}

type sessionsCollector struct {
	count func(context.Context) (int64, error)
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex // one count at a time; scrapes wait for it
	at   time.Time
	n    int64
	fail bool
}

func (c *sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c *sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= c.every {
		n, err := c.count(context.Background()) // bounded by the store timeout
		c.at, c.n, c.fail = now, n, err != nil
	}
	if !c.fail {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(c.n))
	}
}
