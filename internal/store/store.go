// Package store is tollgate's persistent state: consumers, API keys, basic
// credentials, the audit log and config revisions. One interface, one
// implementation written once over database/sql, two dialects (SQLite by
// default, PostgreSQL for several nodes) sharing one logical schema.
//
// The request path never calls the store: internal/credentials keeps an
// in-memory copy fed by LoadSnapshot and Changes.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound means the consumer, key or revision does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique value (consumer name, username) is taken.
	ErrConflict = errors.New("store: already exists")
	// ErrInvalid means the input was rejected before reaching the database.
	ErrInvalid = errors.New("store: invalid input")
	// ErrStale means the record changed since the caller read it (another
	// admin, maybe on another node, wrote in between).
	ErrStale = errors.New("store: changed since read")
)

// Store is the persistence contract. Every method is safe for concurrent use.
type Store interface {
	// CreateConsumer fills c.ID, CreatedAt and UpdatedAt. ErrConflict when the name is taken.
	CreateConsumer(ctx context.Context, c *Consumer) error
	// GetConsumer finds a consumer by id, or else by name.
	GetConsumer(ctx context.Context, idOrName string) (*Consumer, error)
	// ListConsumers pages by name; next is "" on the last page.
	ListConsumers(ctx context.Context, cursor string, limit int) (list []*Consumer, next string, err error)
	// UpdateConsumer saves name, plan, groups, metadata and Disabled of c
	// (found by c.ID). When c.UpdatedAt is set (c was read from the store),
	// it is a compare-and-set: ErrStale if the stored consumer changed since.
	UpdateConsumer(ctx context.Context, c *Consumer) error
	// DeleteConsumer removes a consumer (by id or name) with its keys and credentials.
	DeleteConsumer(ctx context.Context, idOrName string) error

	// CreateKey makes a key and returns its plaintext, which is never stored.
	CreateKey(ctx context.Context, consumerID string, expiresAt *time.Time) (*APIKey, string, error)
	// ListKeys lists a consumer's keys, newest first (revoked ones included).
	ListKeys(ctx context.Context, consumerID string) ([]*APIKey, error)
	// RevokeKey revokes a key; revoking twice is not an error.
	RevokeKey(ctx context.Context, consumerID, keyID string) error
	// RotateKey makes a new key; the old one expires after overlap (at once when 0).
	RotateKey(ctx context.Context, consumerID, keyID string, overlap time.Duration) (*APIKey, string, error)

	// SetBasicCredential sets (replaces) the consumer's username and password.
	SetBasicCredential(ctx context.Context, consumerID, username, password string) error
	// DeleteBasicCredential removes the consumer's basic credential.
	DeleteBasicCredential(ctx context.Context, consumerID string) error

	// LoadSnapshot reads everything the credential cache needs in one
	// consistent read: all consumers, live keys, basic credentials.
	LoadSnapshot(ctx context.Context) (*Snapshot, error)
	// LoadConsumerSnapshot is LoadSnapshot for one consumer (empty when it no longer exists).
	LoadConsumerSnapshot(ctx context.Context, consumerID string) (*Snapshot, error)

	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit pages newest first.
	ListAudit(ctx context.Context, cursor string, limit int) ([]AuditEntry, string, error)

	// PutConfigRevision stores doc as the next revision, unless hash equals the
	// latest revision's hash: then it returns that revision with created=false.
	PutConfigRevision(ctx context.Context, doc []byte, hash, author, source string) (rev int64, created bool, err error)
	GetConfigRevision(ctx context.Context, n int64) (*ConfigRevision, error)
	// LatestConfigRevision returns ErrNotFound when there is none yet.
	LatestConfigRevision(ctx context.Context) (*ConfigRevision, error)
	// ListConfigRevisions pages newest first.
	ListConfigRevisions(ctx context.Context, cursor string, limit int) ([]ConfigRevision, string, error)

	// Changes returns a new subscription to the change feed: this node's own
	// writes at once, other nodes' writes within about a second (PostgreSQL
	// NOTIFY, with a poll of the changes table as the fallback). Pending changes
	// to the same entity coalesce, so a slow reader never blocks writers. The
	// channel is closed by Close.
	Changes() <-chan Change

	Ping(ctx context.Context) error
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	// DB is the underlying pool, for packages with their own tables (analytics).
	DB() *sql.DB
	Close() error
}

// Consumer is an API client identity.
type Consumer struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Plan     string            `json:"plan"`
	Groups   []string          `json:"groups"`
	Metadata map[string]string `json:"metadata"`
	// Disabled consumers fail authentication. (The zero value is enabled.)
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// APIKey is a key's public record. The secret and its hash never appear here.
type APIKey struct {
	ID         string     `json:"id"`
	ConsumerID string     `json:"consumer_id"`
	Prefix     string     `json:"prefix"` // e.g. "tg_live_AbCd1234": safe to show
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Active reports whether the key is neither revoked nor expired at now.
func (k *APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Change names an entity that changed.
type Change struct {
	Kind       string // KindConsumer, KindKey, KindBasic, KindConfig, KindResync
	ID         string // consumer id, key id, consumer id, revision number
	ConsumerID string // the owning consumer for consumer, key and basic changes
}

// Change kinds.
const (
	KindConsumer = "consumer"
	KindKey      = "key"
	KindBasic    = "basic"
	KindConfig   = "config"
	// KindResync says the feed may have missed changes (this node could not
	// read it for longer than resyncAfterOutage, so other nodes may have
	// pruned rows it never saw): subscribers should reload everything.
	KindResync = "resync"
)

// Snapshot is what the credential cache loads. Revoked keys are left out;
// expired ones are kept (the cache checks expiry per request).
type Snapshot struct {
	Consumers []*Consumer
	Keys      []KeyRecord
	Basic     []BasicRecord
}

// KeyRecord is a live key as the cache needs it.
type KeyRecord struct {
	ID         string // "k_" + the key's public id part
	ConsumerID string
	Hash       [32]byte  // SHA-256 of the secret part
	ExpiresAt  time.Time // zero: never
}

// BasicRecord is a username and its password hash.
type BasicRecord struct {
	ConsumerID string
	Username   string
	Hash       []byte // bcrypt
}

// AuditEntry is one administrative action.
type AuditEntry struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"` // set by AppendAudit when zero
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// ConfigRevision is one stored config document.
type ConfigRevision struct {
	N         int64     `json:"n"`
	CreatedAt time.Time `json:"created_at"`
	Author    string    `json:"author"`
	Source    string    `json:"source"`
	Hash      string    `json:"hash"`
	Document  []byte    `json:"-"`
}
