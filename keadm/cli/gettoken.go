package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/keadm/cloud"
)

const getTokenLong = `Print the token edge nodes join the cluster with (keadm join --token), read
from the secret kubeedge/tokensecret that keadm init creates and cloudcore
refreshes every 12 hours. A token is valid for 24 hours.

The token is followed by a newline (upstream prints none); $(keadm gettoken)
strips it, so the usual use is unchanged.`

func newGetTokenCommand(out io.Writer) *cobra.Command {
	var kubeConfig string
	cmd := &cobra.Command{
		Use:     "gettoken",
		Short:   "Print the token edge nodes join with",
		Long:    getTokenLong,
		Example: `  keadm join --cloudcore-ipport=192.168.1.2:10000 --token=$(keadm gettoken --kube-config=/root/.kube/config)`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if kubeConfig == "" {
				kubeConfig = defaultKubeConfig()
			}
			client, _, err := cloud.Clients(kubeConfig, "")
			if err != nil {
				return err
			}
			token, err := cloud.GetToken(c.Context(), client)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(out, token)
			return err
		},
	}
	cmd.Flags().StringVar(&kubeConfig, "kube-config", "", "kubeconfig of the cluster (default $HOME/.kube/config)")
	return cmd
}
