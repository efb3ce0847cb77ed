package metaserver

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

type nopSender struct{}

func (nopSender) Send(message.Message) error { return nil }

// cloud feeds a real MetaManager as EdgeHub would.
type cloud struct {
	t  *testing.T
	mm *metamanager.MetaManager
}

func (c cloud) send(op message.Operation, p *corev1.Pod) {
	c.t.Helper()
	m, err := message.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
		Operation: op, Resource: p.Namespace + "/pod/" + p.Name}, p)
	if err != nil {
		c.t.Fatal(err)
	}
	m.Header.ResourceVersion = p.ResourceVersion
	if !c.mm.HandleCloudMessage(m) {
		c.t.Fatalf("%s %s not handled", op, p.Name)
	}
}

func cloudPod(name, rv string, lbls map[string]string) *corev1.Pod {
	p := pod("default", name, lbls)
	p.UID, p.ResourceVersion = types.UID("uid-"+name), rv
	return p
}

// recorder collects informer notifications as "op name rv".
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g == s {
			return true
		}
	}
	return false
}

func (r *recorder) handlers() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { p := o.(*corev1.Pod); r.add("add " + p.Name + " " + p.ResourceVersion) },
		UpdateFunc: func(_, o any) {
			p := o.(*corev1.Pod)
			r.add("update " + p.Name + " " + p.ResourceVersion)
		},
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			r.add("delete " + o.(*corev1.Pod).Name)
		},
	}
}

// A client-go SharedInformer, pointed at the server over a real MetaManager
// and meta.db, syncs and sees adds, updates and deletes, whether it lists
// the classic way (list, then watch) or with a watch-list stream.
func TestInformerOverMetaManager(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		name := "list then watch"
		if watchList {
			name = "watch-list"
		}
		t.Run(name, func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			db, err := store.Open(filepath.Join(t.TempDir(), "meta.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			mm := metamanager.New(db, nopSender{}, logr.Discard())
			c := cloud{t: t, mm: mm}
			c.send(message.OpInsert, cloudPod("before", "10", map[string]string{"app": "web"}))

			_, base := start(t, Config{}, mm)
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: base})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory := informers.NewSharedInformerFactory(cs, 0)
			inf := factory.Core().V1().Pods()
			rec := &recorder{}
			if _, err := inf.Informer().AddEventHandler(rec.handlers()); err != nil {
				t.Fatal(err)
			}
			factory.Start(ctx.Done())
			syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
			defer syncCancel()
			if !cache.WaitForCacheSync(syncCtx.Done(), inf.Informer().HasSynced) {
				t.Fatal("informer did not sync")
			}
			if !rec.has("add before 10") {
				t.Fatalf("initial pod not seen: %v", rec.got)
			}

			c.send(message.OpInsert, cloudPod("web", "11", map[string]string{"app": "web"}))
			waitFor(t, "add", func() bool { return rec.has("add web 11") })
			c.send(message.OpUpdate, cloudPod("web", "12", map[string]string{"app": "web", "v": "2"}))
			waitFor(t, "update", func() bool { return rec.has("update web 12") })
			c.send(message.OpDelete, cloudPod("web", "13", nil))
			waitFor(t, "delete", func() bool { return rec.has("delete web") })

			pods, err := inf.Lister().Pods("default").List(labels.Everything())
			if err != nil || len(pods) != 1 || pods[0].Name != "before" {
				t.Fatalf("lister %v %v", pods, err)
			}

			// The typed client: a list with a label selector, a get, a 404.
			l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil || len(l.Items) != 1 || l.Items[0].Name != "before" || l.ResourceVersion != "10" { // the largest of the stored pods
				t.Fatalf("list rv %s items %d %v", l.ResourceVersion, len(l.Items), err)
			}
			if p, err := cs.CoreV1().Pods("default").Get(ctx, "before", metav1.GetOptions{}); err != nil || p.UID != "uid-before" {
				t.Fatalf("get %v %v", p, err)
			}
			if _, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get a deleted pod: %v", err)
			}
			if err := cs.CoreV1().Pods("default").Delete(ctx, "before", metav1.DeleteOptions{}); !apierrors.IsMethodNotSupported(err) {
				t.Fatalf("delete: %v", err)
			}
		})
	}
}

// When a watch falls behind, the informer lists again and catches up on
// what it missed, deletes included.
func TestInformerRelistsAfterOverflow(t *testing.T) {
	f, _ := seed()
	s, base := start(t, Config{}, f)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Pods()
	rec := &recorder{}
	if _, err := inf.Informer().AddEventHandler(rec.handlers()); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		t.Fatal("no sync")
	}
	waitFor(t, "the watch", func() bool { return f.watchers() == 1 })
	// Changes whose events were lost, then the overflow.
	f.put(message.ResPod, pod("default", "missed", nil), true)
	f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: "db-1"}, true)
	f.closeWatches(message.ResPod)
	waitFor(t, "the relist", func() bool { return rec.has("delete db-1") && rec.hasPrefix("add missed ") })
	waitFor(t, "a new watch", func() bool { return f.watchers() == 1 && s.watches.Load() == 1 })
}

func (r *recorder) hasPrefix(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if len(g) >= len(p) && g[:len(p)] == p {
			return true
		}
	}
	return false
}
