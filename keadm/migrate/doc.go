// Package migrate is keadm's migration of Device and DeviceModel objects
// (devices.kubeedge.io) from v1alpha1 to v1alpha2. The field-by-field
// conversion is the library github.com/cleanedge/kubeedge/migrate; this
// package finds the objects (in YAML files or in a cluster), decides which
// ones need converting, takes a backup, writes the results and reports one
// line per object.
//
// Two modes share the same outcomes (migrated, unchanged, failed) and the
// same dry run (a unified diff per object instead of writing):
//
//   - RunFiles converts YAML files offline and writes one YAML stream.
//   - RunCluster reads the objects through the v1alpha1 endpoints of an API
//     server and writes the converted objects through the v1alpha2
//     endpoints, after writing a backup of what it read.
//
// An object that cannot be converted is reported with the offending field
// and left as it is; the others are still migrated. A DeviceModel is held
// back (left as it is, reported failed) while a v1alpha1 Device using it
// fails, because migrating the model drops its property visitors, which the
// Device still needs for its own conversion.
package migrate
