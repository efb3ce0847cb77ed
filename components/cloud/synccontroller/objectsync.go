package synccontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	rsv1 "github.com/cleanedge/kubeedge/components/apis/reliablesyncs/v1alpha1"
	"github.com/cleanedge/kubeedge/components/message"
)

// kinds maps resource types to the kinds and apiVersions ObjectSync names.
var kinds = map[message.ResourceType][2]string{
	message.ResPod:         {"v1", "Pod"},
	message.ResConfigMap:   {"v1", "ConfigMap"},
	message.ResSecret:      {"v1", "Secret"},
	message.ResDevice:      {"devices.kubeedge.io/v1alpha2", "Device"},
	message.ResDeviceModel: {"devices.kubeedge.io/v1alpha2", "DeviceModel"},
}

func typeOfKind(kind string) (message.ResourceType, bool) {
	for t, k := range kinds {
		if k[1] == kind {
			return t, true
		}
	}
	return "", false
}

// ObjectSyncStore keeps acknowledgements in ObjectSync objects. Writes are
// queued and coalesced per object (only the latest state of each is
// written), by one goroutine, so a burst of changes never blocks a node.
type ObjectSyncStore struct {
	Client dynamic.Interface
	Log    logr.Logger

	mu      sync.Mutex
	queue   map[string]write // by namespace/name
	order   []string
	wake    chan struct{}
	once    sync.Once
	missing bool // the CRD is not installed: keep acknowledgements in memory only
}

type write struct {
	namespace, name string
	ack             *Ack // nil: delete
}

func (s *ObjectSyncStore) init() {
	s.once.Do(func() {
		s.queue = map[string]write{}
		s.wake = make(chan struct{}, 1)
	})
}

// Load lists every ObjectSync.
func (s *ObjectSyncStore) Load(ctx context.Context) (map[string][]Ack, error) {
	s.init()
	list, err := s.Client.Resource(rsv1.ObjectSyncs).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			s.Log.Info("the ObjectSync CRD (objectsyncs.reliablesyncs.kubeedge.io) is not installed; " +
				"acknowledgements are kept in memory only. keadm init installs it.")
			s.mu.Lock()
			s.missing = true
			s.mu.Unlock()
			return nil, nil
		}
		return nil, fmt.Errorf("list objectsyncs.reliablesyncs.kubeedge.io: %w", err)
	}
	out := map[string][]Ack{}
	for i := range list.Items {
		var os rsv1.ObjectSync
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &os); err != nil {
			continue
		}
		node, uid, ok := rsv1.ParseName(os.Name)
		typ, known := typeOfKind(os.Spec.ObjectKind)
		if !ok || !known {
			continue
		}
		out[node] = append(out[node], Ack{
			Ref:             Ref{Type: typ, Namespace: os.Namespace, Name: os.Spec.ObjectName, UID: uid},
			ResourceVersion: os.Status.ObjectResourceVersion,
		})
	}
	return out, nil
}

// Save queues the ObjectSync of a.
func (s *ObjectSyncStore) Save(node string, a Ack) {
	if a.UID == "" {
		return // nothing to name it by
	}
	s.enqueue(write{namespace: a.Namespace, name: rsv1.Name(node, a.UID), ack: &a})
}

// Forget queues the deletion of r's ObjectSync.
func (s *ObjectSyncStore) Forget(node string, r Ref) {
	if r.UID == "" {
		return
	}
	s.enqueue(write{namespace: r.Namespace, name: rsv1.Name(node, r.UID)})
}

func (s *ObjectSyncStore) enqueue(w write) {
	s.init()
	k := w.namespace + "/" + w.name
	s.mu.Lock()
	if s.missing {
		s.mu.Unlock()
		return
	}
	if _, queued := s.queue[k]; !queued {
		s.order = append(s.order, k)
	}
	s.queue[k] = w
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Queued is the number of writes waiting.
func (s *ObjectSyncStore) Queued() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Run writes queued changes until ctx ends.
func (s *ObjectSyncStore) Run(ctx context.Context) error {
	s.init()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.order) == 0 {
				s.mu.Unlock()
				break
			}
			k := s.order[0]
			s.order = s.order[1:]
			w := s.queue[k]
			delete(s.queue, k)
			s.mu.Unlock()
			if err := s.apply(ctx, w); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.Log.Info("objectsync write failed; the next acknowledgement rewrites it", "objectsync", k, "err", err)
			}
		}
	}
}

func (s *ObjectSyncStore) apply(ctx context.Context, w write) error {
	rc := s.Client.Resource(rsv1.ObjectSyncs).Namespace(w.namespace)
	if w.ack == nil {
		if err := rc.Delete(ctx, w.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	status, _ := json.Marshal(map[string]any{"status": rsv1.ObjectSyncStatus{ObjectResourceVersion: w.ack.ResourceVersion}})
	_, err := rc.Patch(ctx, w.name, types.MergePatchType, status, metav1.PatchOptions{}, "status")
	if !apierrors.IsNotFound(err) {
		return err
	}
	k := kinds[w.ack.Type]
	obj := rsv1.ObjectSync{
		TypeMeta:   metav1.TypeMeta{APIVersion: rsv1.GroupVersion.String(), Kind: "ObjectSync"},
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace},
		Spec:       rsv1.ObjectSyncSpec{ObjectAPIVersion: k[0], ObjectKind: k[1], ObjectName: w.ack.Name},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&obj)
	if err != nil {
		return err
	}
	if _, err := rc.Create(ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		if strings.Contains(err.Error(), "not found") {
			return fmt.Errorf("create objectsync (is the reliablesyncs CRD installed? keadm init installs it): %w", err)
		}
		return err
	}
	_, err = rc.Patch(ctx, w.name, types.MergePatchType, status, metav1.PatchOptions{}, "status")
	return err
}
