package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ErrImageNotPresent is matched (errors.Is) by the error EnsureImage returns
// when the image is missing and the pull policy is Never (kubelet's
// ErrImageNeverPull).
var ErrImageNotPresent = errors.New("image not present and imagePullPolicy is Never")

// ImageNotPresentError names the missing image; it matches ErrImageNotPresent.
type ImageNotPresentError struct{ Image string }

func (e *ImageNotPresentError) Error() string {
	return fmt.Sprintf("image %s not present and imagePullPolicy is Never", e.Image)
}

// Is makes errors.Is(err, ErrImageNotPresent) true.
func (e *ImageNotPresentError) Is(target error) bool { return target == ErrImageNotPresent }

// PullError is a failed PullImage (the pod worker reports ErrImagePull, then
// ImagePullBackOff, with Image in the message).
type PullError struct {
	Image string
	Err   error
}

func (e *PullError) Error() string { return fmt.Sprintf("pull image %s: %v", e.Image, e.Err) }

func (e *PullError) Unwrap() error { return e.Err }

// EffectivePullPolicy returns policy, or the API server's default when it is
// empty: Always for an image without tag or tagged :latest, IfNotPresent
// otherwise (also for digests).
func EffectivePullPolicy(image string, policy corev1.PullPolicy) corev1.PullPolicy {
	if policy != "" {
		return policy
	}
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	last := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 || last[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// EnsureImage makes image available according to policy and returns its
// image ref (the runtime's image ID), to be put into the container config.
//
//   - Never: the image must be present locally, otherwise an
//     *ImageNotPresentError (errors.Is ErrImageNotPresent).
//   - IfNotPresent: ImageStatus first, PullImage only when missing (containerd
//     would contact the registry on every PullImage, P4).
//   - Always: PullImage.
//
// A failed pull is a *PullError; a failed ImageStatus is returned wrapped.
func (r *Runtime) EnsureImage(ctx context.Context, image string, policy corev1.PullPolicy, auth *runtimeapi.AuthConfig) (string, error) {
	spec := &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: image}
	policy = EffectivePullPolicy(image, policy)
	if policy != corev1.PullAlways {
		st, err := r.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
		if err != nil {
			return "", fmt.Errorf("image status %s: %w", image, err)
		}
		if img := st.GetImage(); img != nil && img.Id != "" {
			return img.Id, nil
		}
		if policy == corev1.PullNever {
			return "", &ImageNotPresentError{Image: image}
		}
	}
	resp, err := r.is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: auth})
	if err != nil {
		return "", &PullError{Image: image, Err: err}
	}
	// Prefer the image ID (what ImageStatus reports) over the pulled ref so
	// that both paths return the same kind of reference.
	if st, err := r.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec}); err == nil && st.GetImage().GetId() != "" {
		return st.GetImage().GetId(), nil
	}
	if resp.ImageRef == "" {
		return "", &PullError{Image: image, Err: errors.New("runtime returned an empty image ref")}
	}
	return resp.ImageRef, nil
}
