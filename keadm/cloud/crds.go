package cloud

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"

	"github.com/cleanedge/kubeedge/charts"
)

// runCRDs creates the embedded CRDs, updates those whose spec lacks what the
// embedded one says, then waits until all are Established.
func runCRDs(ctx context.Context, d *InitData) error {
	crds, err := charts.CRDs()
	if err != nil {
		return err
	}
	for _, want := range crds {
		action, err := applyCRD(ctx, d, want)
		if err != nil {
			return err
		}
		d.record("crds", Change{Kind: "CustomResourceDefinition", Name: want.GetName(), Action: action})
	}

	ctx, cancel := context.WithTimeout(ctx, d.cfg.Wait)
	defer cancel()
	for _, want := range crds {
		if err := waitEstablished(ctx, d, want.GetName()); err != nil {
			return err
		}
	}
	d.printf("crds", "all %d CRDs are established", len(crds))
	return nil
}

// applyCRD creates want or brings an existing CRD's spec and labels up to it.
func applyCRD(ctx context.Context, d *InitData, want *unstructured.Unstructured) (Action, error) {
	client := d.deps.Dynamic.Resource(CRDResource)
	name := want.GetName()
	action := Kept
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = client.Create(ctx, want.DeepCopy(), metav1.CreateOptions{FieldManager: "keadm"})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(CRDResource.GroupResource(), name, err)
			}
			action = Created
			return err
		}
		if err != nil {
			return err
		}
		if covers(cur.Object["spec"], want.Object["spec"]) && covers(any(cur.GetLabels()), any(want.GetLabels())) {
			action = Kept
			return nil
		}
		next := cur.DeepCopy()
		next.Object["spec"] = want.DeepCopy().Object["spec"]
		labels := next.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range want.GetLabels() {
			labels[k] = v
		}
		next.SetLabels(labels)
		_, err = client.Update(ctx, next, metav1.UpdateOptions{FieldManager: "keadm"})
		action = Updated
		return err
	})
	if err != nil {
		return "", fmt.Errorf("CustomResourceDefinition %s: %w", name, err)
	}
	return action, nil
}

// covers reports whether have holds every field of want with the same value;
// have may hold more (the API server fills defaults).
func covers(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			if !covers(h[k], wv) {
				return false
			}
		}
		return true
	case map[string]string:
		h, _ := have.(map[string]string)
		for k, wv := range w {
			if h[k] != wv {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !covers(h[i], w[i]) {
				return false
			}
		}
		return true
	case int64, float64, int, int32:
		return toFloat(have) == toFloat(want)
	default:
		return reflect.DeepEqual(have, want)
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int32:
		return float64(n)
	case int:
		return float64(n)
	case float64:
		return n
	}
	return -1e308
}

// waitEstablished polls the CRD until its Established condition is True.
// A NamesAccepted condition that is False fails at once: the names clash
// with another CRD.
func waitEstablished(ctx context.Context, d *InitData, name string) error {
	client := d.deps.Dynamic.Resource(CRDResource)
	tick := time.NewTicker(d.deps.PollInterval)
	defer tick.Stop()
	last := "no status yet"
	for {
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			for _, c := range conds {
				c, _ := c.(map[string]any)
				typ, _ := c["type"].(string)
				status, _ := c["status"].(string)
				msg, _ := c["message"].(string)
				switch {
				case typ == "Established" && status == "True":
					return nil
				case typ == "NamesAccepted" && status == "False":
					return fmt.Errorf("CustomResourceDefinition %s: names not accepted: %s", name, msg)
				case typ == "Established":
					last = strings.TrimSpace("Established=" + status + " " + msg)
				}
			}
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("CustomResourceDefinition %s not established within %s (%s)", name, d.cfg.Wait, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
