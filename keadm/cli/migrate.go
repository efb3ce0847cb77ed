package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/keadm/cloud"
	"github.com/cleanedge/kubeedge/keadm/migrate"
)

// migrateDevicesOptions are the flags of keadm migrate devices.
type migrateDevicesOptions struct {
	files      []string
	output     string
	kubeConfig string
	root       string
	backupDir  string
	dryRun     bool
}

func (o *migrateDevicesOptions) config() (migrate.Config, error) {
	roots, err := rootsFlag(o.root)
	if err != nil {
		return migrate.Config{}, err
	}
	kubeConfig := o.kubeConfig
	if kubeConfig == "" && len(o.files) == 0 {
		kubeConfig = defaultKubeConfig()
	}
	cfg := migrate.Config{
		Files:      o.files,
		Output:     o.output,
		KubeConfig: kubeConfig,
		Roots:      roots,
		BackupDir:  o.backupDir,
		DryRun:     o.dryRun,
	}
	return cfg, cfg.Validate()
}

const migrateLong = `Move objects written for older KubeEdge releases to the API versions this
KubeEdge uses.`

const migrateDevicesLong = `Convert Device and DeviceModel objects (devices.kubeedge.io) from v1alpha1, the
KubeEdge v1.3 API, to v1alpha2, the API cloudcore and edgecore use. A model's
property visitors move to every Device using it, the model gets spec.protocol,
and modbus rtu/tcp settings become modbus.slaveID plus protocol.common (see
docs/migrate-devices.md).

With --from-file, YAML files (or directories of *.yaml and *.yml files) are
converted offline as one stream: every document is written to --output (default
stdout), converted or as it was; progress goes to stderr.

Without --from-file, the cluster of --kube-config is migrated in place: every
Device and DeviceModel is read through devices.kubeedge.io/v1alpha1, those not
yet in v1alpha2 form are converted, all objects read are backed up to
--backup-dir (YAML, files 0600), and the converted objects are written through
devices.kubeedge.io/v1alpha2 at the resourceVersion they were read at. Devices
are written before their models. A cluster that does not serve v1alpha1 has
nothing to migrate.

Running it again changes nothing: objects already in v1alpha2 form, or
identical after conversion, are reported unchanged. An object that cannot be
converted is reported with the offending field and left as it is (and so is
its model, which still holds the device's property visitors); the others are
migrated, and keadm exits non-zero. The last line reads
"migrated N, unchanged M, failed K".

--dry-run changes nothing and writes no backup: it prints a unified diff per
object, original v1alpha1 against converted v1alpha2.`

const migrateDevicesExample = `  # See what migrating the cluster would change
  keadm migrate devices --kube-config=/root/.kube/config --dry-run

  # Migrate the cluster (backup in /var/lib/kubeedge/backup/devices-<time>/)
  keadm migrate devices --kube-config=/root/.kube/config

  # Convert manifests offline, e.g. in CI
  keadm migrate devices -f deploy/devices/ -o deploy/devices-v1alpha2.yaml`

func newMigrateCommand(out, errOut io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move objects of older KubeEdge releases to the current API versions",
		Long:  migrateLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newMigrateDevicesCommand(out, errOut))
	return cmd
}

func newMigrateDevicesCommand(out, errOut io.Writer) *cobra.Command {
	o := &migrateDevicesOptions{}
	cmd := &cobra.Command{
		Use:     "devices",
		Short:   "Convert Devices and DeviceModels from devices.kubeedge.io/v1alpha1 to v1alpha2",
		Long:    migrateDevicesLong,
		Example: migrateDevicesExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "from-file", "f", nil, "YAML file or directory to convert offline instead of migrating a cluster (repeatable)")
	f.StringVarP(&o.output, "output", "o", "", "with --from-file: file to write the converted YAML to (default stdout)")
	f.StringVar(&o.kubeConfig, "kube-config", "", "kubeconfig of the cluster to migrate (default $HOME/.kube/config)")
	f.StringVar(&o.root, "root", "", "prefix of the default --backup-dir, as given to keadm init --root")
	f.StringVar(&o.backupDir, "backup-dir", "", "new or empty directory for the backup of the objects read (default <root>/var/lib/kubeedge/backup/devices-<UTC time>)")
	f.BoolVarP(&o.dryRun, "dry-run", "d", false, "change nothing; print a unified diff per object that would be migrated")

	cmd.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := o.config()
		if err != nil {
			return err
		}
		var res migrate.Result
		if cfg.Mode() == migrate.ModeFiles {
			// stdout carries the YAML (or the diffs); progress goes to stderr.
			res, err = migrate.RunFiles(cfg, out, errOut)
			if err != nil {
				return err
			}
			res.PrintSummary(errOut)
			return res.Err()
		}
		client, dyn, err := cloud.Clients(cfg.KubeConfig, "")
		if err != nil {
			return err
		}
		res, err = migrate.RunCluster(c.Context(), cfg, migrate.Deps{Client: dyn, Discovery: client.Discovery()}, out)
		if err != nil {
			return err
		}
		res.PrintSummary(out)
		return res.Err()
	}
	return cmd
}
