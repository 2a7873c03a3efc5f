"""Sharing placements between deciders (picker.framework.placement_sharing) over datagram sockets."""
