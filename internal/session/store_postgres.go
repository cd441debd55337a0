package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgSessions is scs's session table, in postgresstore's layout.
const pgSessions = "rp_sessions"

// pgSchemaStatements create rp's tables; each is idempotent, and they run
// under an advisory lock, so instances starting together do not trip over
// each other (concurrent CREATE ... IF NOT EXISTS can fail in PostgreSQL).
var pgSchemaStatements = []string{
	`SELECT pg_advisory_xact_lock(7268706173657373)`, // any constant: rp's schema lock
	`CREATE TABLE IF NOT EXISTS ` + pgSessions + ` (
		token TEXT PRIMARY KEY,
		data BYTEA NOT NULL,
		expiry TIMESTAMPTZ NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS ` + pgSessions + `_expiry_idx ON ` + pgSessions + ` (expiry)`,
	`CREATE TABLE IF NOT EXISTS ` + indexTable + ` (
		key TEXT PRIMARY KEY,
		iss TEXT NOT NULL,
		sub TEXT NOT NULL,
		sid TEXT NOT NULL,
		expiry BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS ` + indexTable + `_sid ON ` + indexTable + ` (iss, sid)`,
	`CREATE INDEX IF NOT EXISTS ` + indexTable + `_sub ON ` + indexTable + ` (iss, sub)`,
	`CREATE INDEX IF NOT EXISTS ` + indexTable + `_expiry ON ` + indexTable + ` (expiry)`,
	`CREATE TABLE IF NOT EXISTS ` + onceTable + ` (
		key TEXT PRIMARY KEY,
		expiry BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS ` + onceTable + `_expiry ON ` + onceTable + ` (expiry)`,
}

// openPostgres connects to PostgreSQL through pgx (as a database/sql
// driver) and creates rp's tables. A server that is down at start does not
// stop rp: the tables are created on the first call that reaches it.
func openPostgres(ctx context.Context, o backendOptions) (*backend, error) {
	cfg, err := pgx.ParseConfig(o.spec)
	if err != nil {
		return nil, fmt.Errorf("session: RP_SESSION_STORE is not a PostgreSQL URL pgx accepts: %w", err)
	}
	if o.password != "" {
		cfg.Password = o.password
	}
	cfg.ConnectTimeout = o.timeout
	switch {
	case loopback(cfg.Host):
	case cfg.TLSConfig == nil:
		o.log.Warn("the PostgreSQL session store is reached without TLS; sessions hold tokens: add sslmode=verify-full to RP_SESSION_STORE", "host", cfg.Host)
	case len(cfg.Fallbacks) > 0:
		o.log.Warn("the PostgreSQL session store may fall back to a connection without TLS (sslmode=prefer, the default): use sslmode=verify-full", "host", cfg.Host)
	case cfg.TLSConfig.InsecureSkipVerify:
		o.log.Warn("the PostgreSQL session store's certificate is not verified (sslmode=require): use sslmode=verify-full", "host", cfg.Host)
	}
	db := stdlib.OpenDB(*cfg)
	// As many idle connections as open ones: with fewer, a burst of
	// requests closes and reopens connections (a TLS handshake and a
	// PostgreSQL backend each) for most of them. Idle ones close after five
	// minutes, so a quiet rp holds few.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)

	schema := &pgSchema{db: db}
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	err = schema.ensure(sctx)
	cancel()
	if err != nil {
		o.log.Warn("the PostgreSQL session store is unreachable; rp serves, reports not ready, and retries", "host", cfg.Host, "err", err)
	}
	// postgresstore's cleanup is off: DeleteExpired prunes the session
	// table with the index, through rp's logger.
	st := postgresstore.NewWithConfig(db, postgresstore.Config{TableName: pgSessions})
	return &backend{
		store: pgStore{PostgresStore: st, db: db, schema: schema},
		index: sqlIndex{db: db, sessions: pgSessions, ready: schema.ensure,
			pruneSessions: `DELETE FROM ` + pgSessions + ` WHERE expiry < current_timestamp`},
		ping: func(ctx context.Context) error {
			if err := schema.ensure(ctx); err != nil {
				return err
			}
			return db.PingContext(ctx)
		},
		close: db.Close,
	}, nil
}

// pgSchema creates rp's tables once a call reaches the server.
type pgSchema struct {
	db   *sql.DB
	done atomic.Bool
	mu   sync.Mutex
}

// errSchemaPending answers calls made while another call creates the
// tables: they fail at once instead of queueing behind a server that may
// not answer.
var errSchemaPending = errors.New("session: PostgreSQL tables are being created")

func (p *pgSchema) ensure(ctx context.Context) error {
	if p.done.Load() {
		return nil
	}
	if !p.mu.TryLock() {
		return fmt.Errorf("%w: %w", ErrStore, errSchemaPending)
	}
	defer p.mu.Unlock()
	if p.done.Load() {
		return nil
	}
	if err := p.create(ctx); err != nil {
		return fmt.Errorf("%w: creating rp's PostgreSQL tables: %w", ErrStore, err)
	}
	p.done.Store(true)
	return nil
}

// pgObjects are the tables and indexes pgSchemaStatements create.
var pgObjects = []string{
	pgSessions, pgSessions + "_expiry_idx",
	indexTable, indexTable + "_sid", indexTable + "_sub", indexTable + "_expiry",
	onceTable, onceTable + "_expiry",
}

// create makes rp's tables when they are not all there yet. When they are,
// it runs no DDL: rp may then connect with a role that may only read and
// write rows (SELECT, INSERT, UPDATE, DELETE), while the first start, or
// an administrator, created them.
func (p *pgSchema) create(ctx context.Context) error {
	var all bool
	conds := make([]string, len(pgObjects))
	args := make([]any, len(pgObjects))
	for i, o := range pgObjects {
		conds[i] = fmt.Sprintf("to_regclass($%d) IS NOT NULL", i+1)
		args[i] = o
	}
	if err := p.db.QueryRowContext(ctx, "SELECT "+strings.Join(conds, " AND "), args...).Scan(&all); err != nil {
		return err
	}
	if all {
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range pgSchemaStatements {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// pgStore is scs's postgresstore's table layout (and its All, for scs's
// Iterate) with the context-taking methods scs prefers: postgresstore takes
// no context, so a server that stops answering would hold requests for as
// long as TCP waits. Saves of loaded sessions are update-only. Its plain
// Find, Commit and Delete are replaced too, so that no path skips rp's
// rules.
type pgStore struct {
	*postgresstore.PostgresStore
	db     *sql.DB
	schema *pgSchema
}

func (s pgStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s pgStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s pgStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// FindCtx returns an unexpired session's data.
func (s pgStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if err := s.schema.ensure(ctx); err != nil {
		return nil, false, err
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM `+pgSessions+` WHERE token = $1 AND current_timestamp < expiry`, token).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx saves a session; a loaded session is only updated.
func (s pgStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if err := s.schema.ensure(ctx); err != nil {
		return err
	}
	if updateOnly(ctx) {
		res, err := s.db.ExecContext(ctx, `UPDATE `+pgSessions+` SET data = $2, expiry = $3 WHERE token = $1`, token, b, expiry)
		return updated(res, err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO `+pgSessions+` (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`, token, b, expiry)
	return err
}

// DeleteCtx deletes a session.
func (s pgStore) DeleteCtx(ctx context.Context, token string) error {
	if err := s.schema.ensure(ctx); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM `+pgSessions+` WHERE token = $1`, token)
	return err
}
