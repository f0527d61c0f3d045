"""The files a node owns on disk: the data directory's layout, the configuration, the
author's keystore, the libp2p host key, remembered peers and written bundles."""
