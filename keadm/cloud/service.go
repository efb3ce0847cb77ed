package cloud

import (
	"context"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"strings"

	"github.com/cleanedge/kubeedge/keadm/service"
)

// runInstall copies the cloudcore binary to <bin>/cloudcore, unless the
// file there is already identical.
func runInstall(_ context.Context, d *InitData) error {
	src := d.cfg.CloudcoreBinary
	if src == "" {
		return errors.New("no cloudcore binary next to keadm or on PATH; pass --cloudcore-binary")
	}
	dst := d.cfg.Roots.Binary(ServiceName)
	same, err := atomicfile.SameContent(src, d.deps.Disk.ReadPath(dst))
	if err != nil {
		return fmt.Errorf("cloudcore binary: %w", err)
	}
	c := Change{Kind: "File", Name: dst, Mode: binaryMode, Action: Kept, Detail: "identical to " + src}
	if !same {
		c.Action, c.Detail = Created, "from "+src
		if exists(d.deps.Disk, dst) {
			c.Action = Updated
		}
		if err := atomicfile.Copy(src, d.deps.Disk.WritePath(dst), binaryMode, binDirMode); err != nil {
			return fmt.Errorf("install cloudcore: %w", err)
		}
		d.restart = true
	}
	d.record("install", c)
	return nil
}

// serviceSpec is how cloudcore runs.
func (d *InitData) serviceSpec() service.Spec {
	r := d.cfg.Roots
	return service.Spec{
		Name:    ServiceName,
		Binary:  r.Binary(ServiceName),
		Args:    []string{"--config", r.CloudCoreConfig()},
		LogFile: r.LogFile(ServiceName),
		PIDFile: r.PIDFile(ServiceName),
		UnitDir: r.UnitDir,
	}
}

// managerName names the service manager for people.
func managerName(m service.Manager) string {
	switch m.(type) {
	case *service.Systemd:
		return "systemd"
	case *service.Process:
		return "process manager"
	case *RecordingServices:
		if r := m.(*RecordingServices).Real; r != nil {
			return managerName(r)
		}
	}
	return "service manager"
}

// runStart installs the cloudcore service and starts it. A running
// cloudcore is kept, or restarted if this run changed its configuration,
// certificates or binary.
func runStart(ctx context.Context, d *InitData) error {
	svc := d.deps.Services
	spec := d.serviceSpec()
	st, err := svc.Status(ctx, ServiceName)
	running := err == nil && st.State == service.StateRunning
	installAction := Updated
	if errors.Is(err, service.ErrNotInstalled) {
		installAction = Created
	}

	if err := svc.Install(ctx, spec); err != nil {
		return err
	}
	command := append([]string{spec.Binary}, spec.Args...)
	d.result.Service = &ServiceSummary{Manager: managerName(svc), Command: command}
	if _, ok := svc.(*service.Systemd); !ok {
		d.result.LogFile = spec.LogFile
	}
	d.record("start", Change{Kind: "Service", Name: ServiceName, Action: installAction,
		Detail: fmt.Sprintf("%s runs %s", managerName(svc), strings.Join(command, " "))})

	switch {
	case running && !d.restart:
		d.printf("start", "cloudcore is already running (pid %d) with this configuration: kept", st.PID)
		return nil
	case running:
		d.printf("start", "restarting cloudcore (pid %d) to apply the changes", st.PID)
		if err := svc.Stop(ctx, ServiceName); err != nil {
			return err
		}
	}
	if err := svc.Start(ctx, ServiceName); err != nil {
		return err
	}
	verb := "started"
	if d.cfg.DryRun {
		verb = "would start"
	}
	d.printf("start", "%s cloudcore", verb)
	return nil
}
