package reset

import (
	"context"
	"fmt"
	"github.com/cleanedge/kubeedge/components/cloud/admission"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NamespaceDeleter deletes a namespace of the cloud's cluster.
type NamespaceDeleter interface {
	DeleteNamespace(ctx context.Context, name string) error
}

// ClientDeleter deletes namespaces through a Kubernetes client.
type ClientDeleter struct {
	Client kubernetes.Interface
}

// DeleteNamespace deletes the namespace; a missing one is not an error.
func (c ClientDeleter) DeleteNamespace(ctx context.Context, name string) error {
	err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// WebhookDeleter removes cloudcore's edge-pod admission webhook; the
// NamespaceDeleter may implement it.
type WebhookDeleter interface {
	DeleteWebhook(ctx context.Context) error
}

// DeleteWebhook deletes the MutatingWebhookConfiguration cloudcore registers;
// a missing one is not an error.
func (c ClientDeleter) DeleteWebhook(ctx context.Context) error {
	err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, admission.WebhookConfigurationName, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// KubeconfigDeleter builds a ClientDeleter from a kubeconfig file.
func KubeconfigDeleter(kubeconfig string) (NamespaceDeleter, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client from %s: %w", kubeconfig, err)
	}
	return ClientDeleter{Client: client}, nil
}
