// Command convergence measures reliable delivery between the cloud's
// dispatcher (synccontroller) and the edge's MetaManager over a real meta.db:
//
//   - throughput: object messages per second to one node with ACKs on
//     (each one persisted in bbolt, then acknowledged, then recorded);
//   - convergence: after a partition during which N objects changed (a third
//     of them deleted), the time from reconnect until the edge holds exactly
//     the cloud's state.
//
// The link is in-process (no websocket), so the figures are the cost of the
// delivery machinery and meta.db, not of the network.
//
//	go run ./bench/convergence -changes 100,1000 -throughput 5000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/cloud/synccontroller"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

const node = "edge-1"

// link carries cloud → edge messages to MetaManager and its acks back.
type link struct {
	mu   sync.Mutex
	up   bool
	meta *metamanager.MetaManager
	disp *synccontroller.Dispatcher
	in   chan message.Message
}

func (l *link) Send(_ string, m message.Message) error {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	if !up {
		return fmt.Errorf("not connected")
	}
	l.in <- m
	return nil
}

// edge side: MetaManager's acks come back through this sender.
type ackSender struct{ l *link }

func (a ackSender) Send(m message.Message) error { a.l.disp.HandleAck(node, m); return nil }

func cm(i, version int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cm-" + strconv.Itoa(i), Namespace: "default",
			UID: types.UID(fmt.Sprintf("uid-%d", i)), ResourceVersion: strconv.Itoa(version)},
		Data: map[string]string{"v": strconv.Itoa(version), "payload": strings.Repeat("x", 512)},
	}
}

func obj(c *corev1.ConfigMap) synccontroller.Object {
	return synccontroller.Object{Ref: synccontroller.Ref{Type: message.ResConfigMap, Namespace: c.Namespace, Name: c.Name, UID: c.UID},
		ResourceVersion: c.ResourceVersion, Operation: message.OpUpdate, Source: message.SourceEdgeController, Content: c}
}

func setup(dir string) (*link, *store.DB, func(), error) {
	db, err := store.Open(filepath.Join(dir, "meta.db"), store.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	l := &link{up: true, in: make(chan message.Message, 1024)}
	l.disp = synccontroller.New(synccontroller.Config{MaxPending: 1 << 20}, l, nil, logr.Discard())
	l.meta = metamanager.New(db, ackSender{l}, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-l.in:
				l.meta.HandleCloudMessage(m)
			}
		}
	}()
	l.disp.NodeConnected(node)
	return l, db, func() { cancel(); db.Close() }, nil
}

func waitAcked(l *link) {
	for l.disp.Stats().Pending > 0 {
		time.Sleep(200 * time.Microsecond)
	}
}

func throughput(dir string, n int) error {
	l, _, stop, err := setup(dir)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	for i := range n {
		o := obj(cm(i, 10))
		m, _ := message.DefaultFactory.New(message.Route{Source: o.Source, Group: message.GroupResource, Operation: o.Operation, Resource: o.Key()}, o.Content)
		m.Header.ResourceVersion = o.ResourceVersion
		if err := l.disp.Send(node, m); err != nil {
			return err
		}
	}
	waitAcked(l)
	d := time.Since(start)
	fmt.Printf("throughput: %d configmaps (0.5 KiB) persisted and acked in %v: %.0f msg/s per node\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	return nil
}

func convergence(dir string, n int) error {
	l, db, stop, err := setup(dir)
	if err != nil {
		return err
	}
	defer stop()
	// The node holds n objects at version 10.
	var want []synccontroller.Object
	for i := range n {
		want = append(want, obj(cm(i, 10)))
	}
	l.disp.Sync(node, []message.ResourceType{message.ResConfigMap}, want)
	waitAcked(l)

	// Partition: n changes happen in the cloud (a third deleted, the rest updated).
	l.mu.Lock()
	l.up = false
	l.mu.Unlock()
	l.disp.NodeDisconnected(node)
	want = want[:0]
	for i := range n {
		if i%3 == 0 {
			continue
		}
		want = append(want, obj(cm(i, 20)))
	}

	// Heal.
	start := time.Now()
	l.mu.Lock()
	l.up = true
	l.mu.Unlock()
	l.disp.NodeConnected(node)
	l.disp.Sync(node, []message.ResourceType{message.ResConfigMap}, want)
	waitAcked(l)
	d := time.Since(start)
	objs, err := db.ListType(message.ResConfigMap)
	if err != nil {
		return err
	}
	ok := len(objs) == len(want)
	for _, o := range objs {
		if o.ResourceVersion != "20" {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("not converged: edge holds %d objects, want %d at version 20", len(objs), len(want))
	}
	fmt.Printf("convergence: %d changes queued during a partition (%d deletes, %d updates) → edge equal to cloud %v after reconnect\n",
		n, n-len(want), len(want), d.Round(time.Millisecond))
	return nil
}

func main() {
	changes := flag.String("changes", "100,1000", "comma-separated numbers of changes made during the partition")
	tput := flag.Int("throughput", 5000, "messages for the throughput run")
	flag.Parse()
	dir, err := os.MkdirTemp("", "convergence-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	run := func(name string, f func(string) error) {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err == nil {
			err = f(sub)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, name+":", err)
			os.Exit(1)
		}
	}
	run("throughput", func(d string) error { return throughput(d, *tput) })
	for _, s := range strings.Split(*changes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(os.Stderr, "-changes:", err)
			os.Exit(2)
		}
		run("converge-"+s, func(d string) error { return convergence(d, n) })
	}
}
