package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Device is one physical device bound to an edge node.
type Device struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DeviceSpec   `json:"spec,omitempty"`
	Status DeviceStatus `json:"status,omitempty"`
}

// DeviceList is a list of Devices.
type DeviceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Device `json:"items"`
}

// DeviceSpec is the desired state of a Device.
type DeviceSpec struct {
	// DeviceModelRef names the DeviceModel (same namespace).
	DeviceModelRef *corev1.LocalObjectReference `json:"deviceModelRef,omitempty"`
	// Protocol says how to reach the device.
	Protocol ProtocolConfig `json:"protocol,omitempty"`
	// PropertyVisitors say how each model property is read and written.
	PropertyVisitors []DevicePropertyVisitor `json:"propertyVisitors,omitempty"`
	// Data lists properties reported as data rather than twins.
	Data DeviceData `json:"data,omitempty"`
	// NodeSelector binds the device to a node; KubeEdge v1.12 uses only
	// nodeSelectorTerms[0].matchExpressions[0].values[0] as the node name.
	NodeSelector *corev1.NodeSelector `json:"nodeSelector,omitempty"`
}

// DeviceData lists the data properties of a device and their topic.
type DeviceData struct {
	DataProperties []DataProperty `json:"dataProperties,omitempty"`
	DataTopic      string         `json:"dataTopic,omitempty"`
}

// DataProperty is one property reported as data.
type DataProperty struct {
	PropertyName string            `json:"propertyName,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// ProtocolConfig holds at most one protocol plus common settings.
type ProtocolConfig struct {
	OpcUA              *ProtocolConfigOpcUA      `json:"opcua,omitempty"`
	Modbus             *ProtocolConfigModbus     `json:"modbus,omitempty"`
	Bluetooth          *ProtocolConfigBluetooth  `json:"bluetooth,omitempty"`
	Common             *ProtocolConfigCommon     `json:"common,omitempty"`
	CustomizedProtocol *ProtocolConfigCustomized `json:"customizedProtocol,omitempty"`
}

// ProtocolConfigOpcUA configures an OPC UA server connection.
type ProtocolConfigOpcUA struct {
	URL            string `json:"url,omitempty"`
	UserName       string `json:"userName,omitempty"`
	Password       string `json:"password,omitempty"`
	SecurityPolicy string `json:"securityPolicy,omitempty"`
	SecurityMode   string `json:"securityMode,omitempty"`
	Certificate    string `json:"certificate,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"`
	Timeout        int64  `json:"timeout,omitempty"`
}

// ProtocolConfigModbus holds the modbus slave id; the transport (serial or
// TCP) is in ProtocolConfigCommon.
type ProtocolConfigModbus struct {
	SlaveID *int64 `json:"slaveID,omitempty"`
}

// ProtocolConfigBluetooth configures a bluetooth device.
type ProtocolConfigBluetooth struct {
	MACAddress string `json:"macAddress,omitempty"`
}

// ProtocolConfigCustomized configures a user-defined protocol.
type ProtocolConfigCustomized struct {
	ProtocolName string           `json:"protocolName,omitempty"`
	ConfigData   *CustomizedValue `json:"configData,omitempty"`
}

// ProtocolConfigCommon holds transport and collection settings shared by
// protocols.
type ProtocolConfigCommon struct {
	COM               *ProtocolConfigCOM `json:"com,omitempty"`
	TCP               *ProtocolConfigTCP `json:"tcp,omitempty"`
	CommType          string             `json:"commType,omitempty"`
	ReconnTimeout     int64              `json:"reconnTimeout,omitempty"`
	ReconnRetryTimes  int64              `json:"reconnRetryTimes,omitempty"`
	CollectTimeout    int64              `json:"collectTimeout,omitempty"`
	CollectRetryTimes int64              `json:"collectRetryTimes,omitempty"`
	// CollectType is "sync" or "async".
	CollectType      string           `json:"collectType,omitempty"`
	CustomizedValues *CustomizedValue `json:"customizedValues,omitempty"`
}

// ProtocolConfigCOM is a serial line.
type ProtocolConfigCOM struct {
	SerialPort string `json:"serialPort,omitempty"`
	BaudRate   int64  `json:"baudRate,omitempty"`
	DataBits   int64  `json:"dataBits,omitempty"`
	Parity     string `json:"parity,omitempty"`
	StopBits   int64  `json:"stopBits,omitempty"`
}

// ProtocolConfigTCP is a TCP endpoint.
type ProtocolConfigTCP struct {
	IP   string `json:"ip,omitempty"`
	Port int64  `json:"port,omitempty"`
}

// DeviceStatus is the observed state of a Device.
type DeviceStatus struct {
	Twins []Twin `json:"twins,omitempty"`
}

// Twin is the desired and reported value of one property.
type Twin struct {
	PropertyName string       `json:"propertyName,omitempty"`
	Desired      TwinProperty `json:"desired,omitempty"`
	Reported     TwinProperty `json:"reported,omitempty"`
}

// TwinProperty is a value with free-form metadata (e.g. timestamp, type).
type TwinProperty struct {
	Value    string            `json:"value"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// DevicePropertyVisitor says how one property is accessed.
type DevicePropertyVisitor struct {
	PropertyName     string           `json:"propertyName,omitempty"`
	ReportCycle      int64            `json:"reportCycle,omitempty"`
	CollectCycle     int64            `json:"collectCycle,omitempty"`
	CustomizedValues *CustomizedValue `json:"customizedValues,omitempty"`
	VisitorConfig    `json:",inline"`
}

// VisitorConfig holds the protocol-specific part of a visitor (one of).
type VisitorConfig struct {
	OpcUA              *VisitorConfigOPCUA      `json:"opcua,omitempty"`
	Modbus             *VisitorConfigModbus     `json:"modbus,omitempty"`
	Bluetooth          *VisitorConfigBluetooth  `json:"bluetooth,omitempty"`
	CustomizedProtocol *VisitorConfigCustomized `json:"customizedProtocol,omitempty"`
}

// VisitorConfigOPCUA addresses an OPC UA node.
type VisitorConfigOPCUA struct {
	NodeID     string `json:"nodeID,omitempty"`
	BrowseName string `json:"browseName,omitempty"`
}

// ModbusRegisterType is a modbus register table.
type ModbusRegisterType string

// Modbus register tables.
const (
	ModbusRegisterTypeCoilRegister          ModbusRegisterType = "CoilRegister"
	ModbusRegisterTypeDiscreteInputRegister ModbusRegisterType = "DiscreteInputRegister"
	ModbusRegisterTypeInputRegister         ModbusRegisterType = "InputRegister"
	ModbusRegisterTypeHoldingRegister       ModbusRegisterType = "HoldingRegister"
)

// VisitorConfigModbus addresses modbus registers.
type VisitorConfigModbus struct {
	Register       ModbusRegisterType `json:"register,omitempty"`
	Offset         *int64             `json:"offset,omitempty"`
	Limit          *int64             `json:"limit,omitempty"`
	Scale          float64            `json:"scale,omitempty"`
	IsSwap         bool               `json:"isSwap,omitempty"`
	IsRegisterSwap bool               `json:"isRegisterSwap,omitempty"`
}

// VisitorConfigBluetooth addresses a bluetooth characteristic.
type VisitorConfigBluetooth struct {
	CharacteristicUUID string `json:"characteristicUUID,omitempty"`
	// DataWriteToBluetooth maps a property value to the bytes written.
	DataWriteToBluetooth   map[string][]byte      `json:"dataWrite,omitempty"`
	BluetoothDataConverter BluetoothReadConverter `json:"dataConverter,omitempty"`
}

// BluetoothReadConverter turns read bytes into a value.
type BluetoothReadConverter struct {
	StartIndex        int                   `json:"startIndex,omitempty"`
	EndIndex          int                   `json:"endIndex,omitempty"`
	ShiftLeft         uint                  `json:"shiftLeft,omitempty"`
	ShiftRight        uint                  `json:"shiftRight,omitempty"`
	OrderOfOperations []BluetoothOperations `json:"orderOfOperations,omitempty"`
}

// BluetoothArithmeticOperationType is Add, Subtract, Multiply or Divide.
type BluetoothArithmeticOperationType string

// Bluetooth arithmetic operations.
const (
	BluetoothAdd      BluetoothArithmeticOperationType = "Add"
	BluetoothSubtract BluetoothArithmeticOperationType = "Subtract"
	BluetoothMultiply BluetoothArithmeticOperationType = "Multiply"
	BluetoothDivide   BluetoothArithmeticOperationType = "Divide"
)

// BluetoothOperations is one arithmetic step.
type BluetoothOperations struct {
	BluetoothOperationType  BluetoothArithmeticOperationType `json:"operationType,omitempty"`
	BluetoothOperationValue float64                          `json:"operationValue,omitempty"`
}

// VisitorConfigCustomized is the visitor of a user-defined protocol.
type VisitorConfigCustomized struct {
	ProtocolName string           `json:"protocolName,omitempty"`
	ConfigData   *CustomizedValue `json:"configData,omitempty"`
}
