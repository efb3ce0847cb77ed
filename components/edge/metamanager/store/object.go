package store

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cleanedge/kubeedge/components/message"
)

// Object is one cloud object as the edge keeps it.
type Object struct {
	// Key is where the object lives: namespace, type and name.
	Key message.Resource
	// ResourceVersion is the object's metadata.resourceVersion.
	ResourceVersion string
	// UID is the object's metadata.uid; a different UID under the same key is
	// a new object.
	UID string
	// Data is the Kubernetes object JSON as received.
	Data json.RawMessage
}

// NewObject builds an Object from the object JSON, taking ResourceVersion and
// UID from its metadata.
func NewObject(key message.Resource, data []byte) (Object, error) {
	var head struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
			UID             string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Object{}, fmt.Errorf("%w %s: %w", ErrInvalidObject, key, err)
	}
	return Object{
		Key:             key,
		ResourceVersion: head.Metadata.ResourceVersion,
		UID:             head.Metadata.UID,
		Data:            json.RawMessage(data),
	}, nil
}

// IsNewerThan reports whether o should replace stored, the rule of
// PutIfNewer: a different UID (both known) is a recreated object and always
// replaces; otherwise resourceVersions are compared as unsigned integers when
// both parse, and any different resourceVersion counts as newer when they do
// not (Kubernetes says resourceVersions are opaque).
func (o Object) IsNewerThan(stored Object) bool {
	return newer(o.UID, o.ResourceVersion, stored.UID, stored.ResourceVersion)
}

func newer(uid, rv, storedUID, storedRV string) bool {
	if uid != "" && storedUID != "" && uid != storedUID {
		return true
	}
	a, errA := strconv.ParseUint(rv, 10, 64)
	b, errB := strconv.ParseUint(storedRV, 10, 64)
	if errA == nil && errB == nil {
		return a > b
	}
	return rv != storedRV
}

// OutboxEntry is an edge→cloud message kept until the cloud has it.
type OutboxEntry struct {
	// Seq is the queue position, assigned by Enqueue; it only grows.
	Seq uint64
	// CoalesceKey, when not empty, makes a newer entry replace a queued one
	// with the same key (for example the node status: only the latest counts).
	CoalesceKey string
	// Message is the encoded message.
	Message []byte
}
