// Package migrate converts Device and DeviceModel objects from
// devices.kubeedge.io/v1alpha1 (KubeEdge v1.3 shapes) to v1alpha2 (what
// KubeEdge v1.12 uses).
//
// What changes, field by field:
//
//   - DeviceModel spec.propertyVisitors move to spec.propertyVisitors of every
//     Device that uses the model (ConvertDevice takes the model for this).
//   - DeviceModel gets spec.protocol, the single protocol its visitors use
//     ("modbus", "opcua" or "bluetooth"); empty, with a Problem, when the
//     visitors use none or several.
//   - Device spec.protocol.modbus.rtu becomes modbus.slaveID plus
//     common.com {serialPort, baudRate, dataBits, parity, stopBits} and
//     common.commType "rtu".
//   - Device spec.protocol.modbus.tcp becomes modbus.slaveID (the string
//     parsed as an integer 0..255) plus common.tcp {ip, port} and
//     common.commType "tcp". A slaveID that is not such a number makes the
//     Device non-convertible (*ConvertError).
//   - opcua, bluetooth, deviceModelRef, nodeSelector and status.twins are
//     copied unchanged.
//   - metadata keeps name, generateName, namespace, labels and annotations
//     (minus kubectl's last-applied-configuration); server-set fields
//     (resourceVersion, uid, creationTimestamp, managedFields, ...) are dropped.
//
// Problems are things a user should look at but that do not stop the
// conversion; a *ConvertError stops it and nothing is produced for the object.
// ConvertYAML works on whole multi-document files and is idempotent: v1alpha2
// documents and documents of other kinds are passed through as they are.
package migrate
