package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const keyCols = "id, consumer_id, prefix, created_at, expires_at, revoked_at"

func scanKey(r scanner) (*APIKey, error) {
	var k APIKey
	var exp, rev sql.NullTime
	if err := r.Scan(&k.ID, &k.ConsumerID, &k.Prefix, &k.CreatedAt, &exp, &rev); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.RevokedAt = nullTime(exp), nullTime(rev)
	return &k, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func timeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// insertKey creates a key for consumerID inside t. A public id collision
// (62^8 space) surfaces as errRetry and write starts over with a new key.
func (s *sqlStore) insertKey(t *tx, consumerID string, expiresAt *time.Time) (*APIKey, string, error) {
	plain, pub := newKey()
	_, secret, _ := ParseKey(plain)
	h := HashSecret(secret)
	k := &APIKey{ID: KeyIDFor(pub), ConsumerID: consumerID, Prefix: KeyDisplayPrefix(pub), CreatedAt: now()}
	if expiresAt != nil {
		e := expiresAt.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &e
	}
	_, err := t.exec("INSERT INTO api_keys(id, consumer_id, prefix, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, consumerID, k.Prefix, hex.EncodeToString(h[:]), k.CreatedAt, timeArg(k.ExpiresAt))
	if err != nil {
		return nil, "", s.retryOnUnique(err)
	}
	return k, plain, t.changed(KindKey, k.ID, consumerID)
}

func (s *sqlStore) CreateKey(ctx context.Context, consumerID string, expiresAt *time.Time) (*APIKey, string, error) {
	var k *APIKey
	var plain string
	err := s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(consumerID)
		if err != nil {
			return err
		}
		k, plain, err = s.insertKey(t, id, expiresAt)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return k, plain, nil
}

func (s *sqlStore) ListKeys(ctx context.Context, consumerID string) ([]*APIKey, error) {
	c, err := s.GetConsumer(ctx, consumerID)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, "SELECT "+keyCols+" FROM api_keys WHERE consumer_id = ? ORDER BY created_at DESC, id", c.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *sqlStore) RevokeKey(ctx context.Context, consumerID, keyID string) error {
	return s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(consumerID)
		if err != nil {
			return err
		}
		res, err := t.exec("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND consumer_id = ? AND revoked_at IS NULL", now(), keyID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err := t.key(id, keyID)
			return err // nil: already revoked
		}
		return t.changed(KindKey, keyID, id)
	})
}

func (t *tx) key(consumerID, keyID string) (*APIKey, error) {
	k, err := scanKey(t.queryRow("SELECT "+keyCols+" FROM api_keys WHERE id = ? AND consumer_id = ?", keyID, consumerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

func (s *sqlStore) RotateKey(ctx context.Context, consumerID, keyID string, overlap time.Duration) (*APIKey, string, error) {
	var k *APIKey
	var plain string
	err := s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(consumerID)
		if err != nil {
			return err
		}
		old, err := t.key(id, keyID)
		if err != nil {
			return err
		}
		if old.RevokedAt != nil {
			return fmt.Errorf("%w: key %s is revoked", ErrInvalid, keyID)
		}
		end := now().Add(max(overlap, 0))
		if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			if _, err := t.exec("UPDATE api_keys SET expires_at = ? WHERE id = ?", end, keyID); err != nil {
				return err
			}
			if err := t.changed(KindKey, keyID, id); err != nil {
				return err
			}
		}
		k, plain, err = s.insertKey(t, id, nil)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return k, plain, nil
}

// --- basic credentials ---

func (s *sqlStore) SetBasicCredential(ctx context.Context, consumerID, username, password string) error {
	if username == "" || len(username) > 200 || strings.ContainsAny(username, ":\r\n") {
		return fmt.Errorf("%w: username must be 1-200 characters without ':'", ErrInvalid)
	}
	if password == "" || len(password) > 72 { // bcrypt reads at most 72 bytes
		return fmt.Errorf("%w: password must be 1-72 bytes", ErrInvalid)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(consumerID)
		if err != nil {
			return err
		}
		at := now()
		_, err = t.exec(`INSERT INTO basic_credentials(consumer_id, username, hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (consumer_id) DO UPDATE SET username = excluded.username, hash = excluded.hash, updated_at = excluded.updated_at`,
			id, username, string(hash), at, at)
		if err != nil {
			return err
		}
		return t.changed(KindBasic, id, id)
	})
}

func (s *sqlStore) DeleteBasicCredential(ctx context.Context, consumerID string) error {
	return s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(consumerID)
		if err != nil {
			return err
		}
		res, err := t.exec("DELETE FROM basic_credentials WHERE consumer_id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return t.changed(KindBasic, id, id)
	})
}

// --- snapshots ---

func (s *sqlStore) LoadSnapshot(ctx context.Context) (*Snapshot, error) {
	return s.loadSnapshot(ctx, "", nil)
}

func (s *sqlStore) LoadConsumerSnapshot(ctx context.Context, consumerID string) (*Snapshot, error) {
	return s.loadSnapshot(ctx, " WHERE consumer_id = ?", []any{consumerID})
}

// loadSnapshot reads consumers, live keys and basic credentials in one
// read-only transaction (a WAL snapshot on SQLite, REPEATABLE READ on
// PostgreSQL), optionally filtered by one consumer.
func (s *sqlStore) loadSnapshot(ctx context.Context, where string, args []any) (*Snapshot, error) {
	t, err := s.db.BeginTx(ctx, s.d.readTx)
	if err != nil {
		return nil, err
	}
	defer t.Rollback()
	each := func(sqlText string, fn func(*sql.Rows) error) error {
		rows, err := t.QueryContext(ctx, s.d.rebind(sqlText), args...)
		return eachRow(rows, err, fn)
	}
	snap := &Snapshot{}
	cw := strings.Replace(where, "consumer_id", "id", 1)
	if err := each("SELECT "+consumerCols+" FROM consumers"+cw, func(r *sql.Rows) error {
		c, err := scanConsumer(r)
		snap.Consumers = append(snap.Consumers, c)
		return err
	}); err != nil {
		return nil, err
	}
	kw := " WHERE revoked_at IS NULL"
	if where != "" {
		kw += " AND consumer_id = ?"
	}
	if err := each("SELECT id, consumer_id, hash, expires_at FROM api_keys"+kw, func(r *sql.Rows) error {
		k, err := scanKeyRecord(r)
		snap.Keys = append(snap.Keys, k)
		return err
	}); err != nil {
		return nil, err
	}
	err = each("SELECT consumer_id, username, hash FROM basic_credentials"+where, func(r *sql.Rows) error {
		var b BasicRecord
		var h string
		err := r.Scan(&b.ConsumerID, &b.Username, &h)
		b.Hash = []byte(h)
		snap.Basic = append(snap.Basic, b)
		return err
	})
	return snap, err
}

func scanKeyRecord(r *sql.Rows) (KeyRecord, error) {
	var k KeyRecord
	var h string
	var exp sql.NullTime
	if err := r.Scan(&k.ID, &k.ConsumerID, &h, &exp); err != nil {
		return k, err
	}
	if n, err := hex.Decode(k.Hash[:], []byte(h)); err != nil || n != len(k.Hash) {
		return k, fmt.Errorf("store: key %s has a malformed hash", k.ID)
	}
	if exp.Valid {
		k.ExpiresAt = exp.Time.UTC()
	}
	return k, nil
}

func eachRow(rows *sql.Rows, err error, fn func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
