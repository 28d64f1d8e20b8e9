#!/usr/bin/env bash
# Provisions one balancer: nginx answering with the node's name, vipd from the synced checkout as a
# systemd service with this node's priority. Args: NAME PRIORITY.
set -euo pipefail
name=${1:?name}
priority=${2:?priority}
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  nodejs npm build-essential python3 nginx curl iproute2 procps >/dev/null

# The service: nginx on port 80, answering with this node's name (the drills' client reads it).
echo "$name" > /var/www/html/index.html
systemctl enable --now nginx

# vipd from the checkout (copied to /opt/vipd, built there), unit and example config.
/vagrant/scripts/install.sh

# This lab's config: the private network is eth1 (eth0 is Vagrant's NAT).
sed -e "s/@NAME@/$name/" -e "s/@PRIORITY@/$priority/" /vagrant/vagrant/vipd.yaml.in > /etc/vipd/vipd.yaml.new
chmod 0600 /etc/vipd/vipd.yaml.new
mv /etc/vipd/vipd.yaml.new /etc/vipd/vipd.yaml
vipd check --config /etc/vipd/vipd.yaml
# The drill script reads metrics on the node itself.
systemctl enable vipd
systemctl restart vipd
