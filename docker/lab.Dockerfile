# The container lab's other hosts (docker/compose.yaml), one image for all:
# real servers (the lab's HTTP server, dovecot POP3), the client (curl, dig),
# the router between the sites, and Prometheus. Entry point: lab-node ROLE
# (docker/lab-node.sh). Built by docker/build.sh on the same base as gslbd.
ARG BASE=debian:12
FROM ${BASE}
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        iproute2 ethtool iputils-ping procps curl dnsutils tcpdump python3 \
        dovecot-pop3d prometheus \
    && rm -rf /var/lib/apt/lists/*
# The POP3 mail's owner: dovecot refuses uids below 500 (first_valid_uid).
RUN groupadd --gid 5000 gslbd-lab \
    && useradd --uid 5000 --gid 5000 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "gslbd lab POP3 mail" gslbd-lab
COPY scripts/lab/httpd.py scripts/lab/dovecot.conf.in /usr/local/share/gslbd-lab/
COPY docker/lab-node.sh /usr/local/bin/lab-node
ENTRYPOINT ["/usr/local/bin/lab-node"]
CMD ["host"]
