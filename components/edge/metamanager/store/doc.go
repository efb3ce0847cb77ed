// Package store is the edge's local database (meta.db): the cloud objects the
// node runs from while offline, the edge→cloud messages waiting for the link,
// and what the cloud has acknowledged.
//
// It is bbolt behind a small typed API, on the model of etcd's backend: the
// buckets are declared values, a schema version in the meta bucket is moved
// forward by declared migration steps (one transaction each), every write runs
// in a transaction, and backups are consistent hot snapshots taken from a read
// transaction, never copies of the live file.
//
// # Layout
//
// Bucket "objects" holds cloud objects. Upstream's SQLite store keys rows by the
// resource string "<namespace>/<type>/<name>"; here the key puts the type first
// so that listing a type, and a type in one namespace, are prefix scans:
//
//	key   = <type> "/" <namespace> "/" <name>      e.g. pod/default/nginx
//	value = 0x01 uvarint(len rv) rv uvarint(len uid) uid <object JSON>
//
// Type and namespace never contain "/" (Put rejects them), so "pod/" does not
// match "podlist/…" and "pod/a/" does not match "pod/ab/…". The name may
// contain "/"; it is everything after the second separator. Cluster-scoped
// objects carry upstream's namespace placeholder ("null", "namespace"); the
// namespace is never empty. The object JSON is stored exactly as received.
//
// Bucket "outbox" holds edge→cloud messages in order: the key is the 8-byte
// big-endian sequence number (from the bucket's persistent sequence, so it
// never goes backwards, not even across restarts), the value is
// 0x01 uvarint(len coalesce key) coalesce key <message>. Bucket
// "outbox-index" maps a non-empty coalesce key to the sequence of the one
// queued entry that has it.
//
// Bucket "syncs" maps an object key (same encoding as "objects") to the last
// resourceVersion the cloud acknowledged. Bucket "meta" holds the schema
// version (key "schema-version", decimal text) and node facts (MetaKey).
//
// # Failure handling
//
// Open takes the file lock with a timeout (ErrInUse), checks the file before
// use (meta, root and freelist pages and the size against the high-water mark
// before bbolt maps it; then, unless Options.SkipCheck, a walk over every
// bucket with memory faults turned into errors, bbolt's consistency check and
// a decode of the store's records) and reports a
// damaged file as a *CorruptError that tells the operator what to do
// (ErrCorrupt). A file written by a newer schema is refused (ErrSchemaTooNew).
// Before a migration the file is backed up beside itself as
// "<path>.schema<N>.bak".
package store
