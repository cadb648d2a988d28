# How the heat-config-chef element gets chef-solo (or cinc-solo) into the
# image; no distribution packages Chef, so the builder must say. README.rst.

# A chef or cinc package file on the build host (.deb or .rpm), installed with
# the image's package manager; or "none" to install only the hook and supply
# the tool later (for example from user-data at boot).
export DIB_HEAT_CONFIG_CHEF_PACKAGE=${DIB_HEAT_CONFIG_CHEF_PACKAGE:-}

# Or a shell command run inside the image to install it, for example the
# vendor's install script (needs network access from the build chroot).
export DIB_HEAT_CONFIG_CHEF_INSTALL=${DIB_HEAT_CONFIG_CHEF_INSTALL:-}
