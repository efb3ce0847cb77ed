package metamanager

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// FuzzCloudMessages feeds MetaManager random sequences of cloud messages —
// inserts, updates and deletes over a few objects, in any order, duplicated,
// with stale versions and recreated UIDs — and checks meta.db against a
// model of the expected state after every step:
//
//   - an object is held at the highest version received since it was last
//     created (a newer UID replaces it whatever its version); a stale or
//     duplicate version changes nothing (no time travel);
//   - a delete removes it;
//   - every message is acknowledged, once, after it is applied.
func FuzzCloudMessages(f *testing.F) {
	f.Add([]byte{0, 5, 1, 0, 3, 1, 2, 7, 1, 0, 9, 2, 1, 4, 0})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 300 {
			return
		}
		db, err := store.Open(filepath.Join(t.TempDir(), "meta.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := &sink{}
		mm := New(db, s, logr.Discard())
		type state struct {
			uid string
			rv  uint64
		}
		model := map[string]state{}
		names := []string{"a", "b", "c"}
		for i := 0; i+2 < len(data); i += 3 {
			name := names[int(data[i])%len(names)]
			op := []message.Operation{message.OpInsert, message.OpUpdate, message.OpDelete}[int(data[i+1])%3]
			rv := uint64(data[i+2]%16) + 1
			uid := "u" + strconv.Itoa(int(data[i+1]/3)%2) // two generations of the object
			key := message.Resource{Namespace: "default", Type: message.ResConfigMap, Name: name}
			content := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"default","uid":%q,"resourceVersion":"%d"},"data":{"v":"%d"}}`,
				name, uid, rv, rv)
			m, err := message.DefaultFactory.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
				Operation: op, Resource: key.String()}, []byte(content))
			if err != nil {
				t.Fatal(err)
			}
			m.Content = []byte(content)
			m.Header.ResourceVersion = strconv.FormatUint(rv, 10)
			acks := len(s.sent)
			if !mm.HandleCloudMessage(m) {
				t.Fatalf("step %d: %s %s not handled", i/3, op, key)
			}
			if len(s.sent) != acks+1 || !s.sent[acks].IsAck() || s.sent[acks].Header.ParentID != m.Header.ID {
				t.Fatalf("step %d: %s %s not acknowledged once", i/3, op, key)
			}
			// The model.
			if op == message.OpDelete {
				delete(model, name)
			} else if cur, ok := model[name]; !ok || cur.uid != uid || rv > cur.rv {
				model[name] = state{uid: uid, rv: rv}
			}
			// meta.db must match it.
			for _, n := range names {
				o, found, err := db.Get(message.Resource{Namespace: "default", Type: message.ResConfigMap, Name: n})
				if err != nil {
					t.Fatal(err)
				}
				want, exists := model[n]
				switch {
				case found != exists:
					t.Fatalf("step %d (%s %s uid %s rv %d): %s stored=%v, model=%v", i/3, op, name, uid, rv, n, found, exists)
				case found && (o.UID != want.uid || o.ResourceVersion != strconv.FormatUint(want.rv, 10)):
					t.Fatalf("step %d (%s %s uid %s rv %d): %s stored uid %s rv %s, model uid %s rv %d",
						i/3, op, name, uid, rv, n, o.UID, o.ResourceVersion, want.uid, want.rv)
				}
			}
		}
	})
}
