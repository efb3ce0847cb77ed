package admission

import (
	"context"
	"fmt"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// WebhookConfigurationName is the MutatingWebhookConfiguration cloudcore owns.
	WebhookConfigurationName = "kubeedge-edge-pods"
	// WebhookName is the webhook's name inside it.
	WebhookName = "edge-pods.kubeedge.io"
	// TimeoutSeconds bounds each call from the API server.
	TimeoutSeconds int32 = 5
)

// WebhookConfiguration is the desired configuration: pod CREATE is sent to
// url (https://<advertiseAddress>:<port>/mutate-pods), verified with caPEM;
// a failing or absent cloudcore is ignored (the pod is admitted unchanged).
func WebhookConfiguration(url string, caPEM []byte) *admissionregv1.MutatingWebhookConfiguration {
	failure := admissionregv1.Ignore
	side := admissionregv1.SideEffectClassNone
	match := admissionregv1.Equivalent
	reinvoke := admissionregv1.NeverReinvocationPolicy
	timeout := TimeoutSeconds
	u := url
	return &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{
			Name:   WebhookConfigurationName,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "cloudcore"},
		},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: WebhookName,
			ClientConfig: admissionregv1.WebhookClientConfig{
				URL:      &u,
				CABundle: append([]byte(nil), caPEM...),
			},
			Rules: []admissionregv1.RuleWithOperations{{
				Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{
					APIGroups:   []string{""},
					APIVersions: []string{"v1"},
					Resources:   []string{"pods"},
				},
			}},
			FailurePolicy: &failure,
			MatchPolicy:   &match,
			NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key:      corev1.LabelMetadataName,
					Operator: metav1.LabelSelectorOpNotIn,
					Values:   []string{ExcludedNamespace},
				}},
			},
			ObjectSelector:          &metav1.LabelSelector{},
			SideEffects:             &side,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &reinvoke,
		}},
	}
}

// EnsureWebhookConfiguration creates WebhookConfigurationName, or updates its
// webhooks (and labels) to the desired ones.
func EnsureWebhookConfiguration(ctx context.Context, client kubernetes.Interface, url string, caPEM []byte) error {
	if url == "" {
		return fmt.Errorf("webhook configuration %s: empty url", WebhookConfigurationName)
	}
	if len(caPEM) == 0 {
		return fmt.Errorf("webhook configuration %s: empty CA bundle", WebhookConfigurationName)
	}
	want := WebhookConfiguration(url, caPEM)
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err = api.Create(ctx, want, metav1.CreateOptions{}); err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create MutatingWebhookConfiguration %s: %w", want.Name, err)
		}
		got, err = api.Get(ctx, want.Name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("get MutatingWebhookConfiguration %s: %w", want.Name, err)
	}
	if equality.Semantic.DeepEqual(got.Webhooks, want.Webhooks) && hasLabels(got.Labels, want.Labels) {
		return nil
	}
	got = got.DeepCopy()
	if got.Labels == nil {
		got.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		got.Labels[k] = v
	}
	got.Webhooks = want.Webhooks
	if _, err := api.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update MutatingWebhookConfiguration %s: %w", want.Name, err)
	}
	return nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
