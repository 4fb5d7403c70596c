#!/usr/bin/perl
# Reads messages with MIME-tools (MIME::Parser, Debian libmime-tools-perl)
# and Encode's MIME-Header decoder, and their addresses with Mail::Message
# (libmail-message-perl), for tests/headers.rs.
# usage: mime_tools.pl mime-tools|mail-message FILE.eml...
#        (output as python_email.py; MIME-tools has no address parser of
#        its own: its from/to/cc are null, Mail::Message reads those)
use strict;
use warnings;
use Encode qw(decode);
use JSON::PP;
use MIME::Parser;
use Mail::Message;

binmode STDOUT;
my $json = JSON::PP->new->utf8->canonical;
my $kind = shift @ARGV;

sub unfold { my $v = shift; return undef unless defined $v; $v =~ s/\r?\n$//; $v =~ s/\r?\n(?=[ \t])//g; $v =~ s/^[ \t]+//; return $v }

for my $path (@ARGV) {
    my %out = (file => $path);
    if ($kind eq 'mime-tools') {
        my $parser = MIME::Parser->new;
        $parser->output_to_core(1);
        $parser->decode_bodies(0);
        my $ent = $parser->parse_open($path);
        my $head = $ent->head;
        for my $h (['subject', 'Subject'], ['x', 'X-Lnccmd-Test']) {
            my $v = unfold($head->get($h->[1]));
            $out{$h->[0]} = defined $v ? decode('MIME-Header', $v) : undef;
        }
        my @files;
        my @todo = ($ent);
        while (my $e = shift @todo) {
            if ($e->parts) { push @todo, $e->parts; next }
            my $f = $e->head->recommended_filename;
            push @files, decode('MIME-Header', $f) if defined $f;
        }
        $out{files} = \@files;
        $out{$_} = undef for qw(from to cc);
    } else {
        open(my $fh, '<:raw', $path) or die "$path: $!";
        my $raw = do { local $/; <$fh> };
        my $m = Mail::Message->read($raw);
        my $s = $m->study('subject');
        $out{subject} = defined $s ? $s->decodedBody : undef;
        my $x = $m->study('X-Lnccmd-Test');
        $out{x} = defined $x ? $x->decodedBody : undef;
        for my $h (qw(from to cc)) {
            my $f = $m->study($h);
            $out{$h} = defined $f ? [map { [$_->phrase // '', $_->address] } $f->addresses] : [];
        }
        my @files;
        for my $part ($m->isMultipart ? $m->parts('RECURSE') : ($m)) {
            next if $part->isMultipart;
            my $cd = $part->head->get('Content-Disposition') or next;
            my $n = $cd->study->attribute('filename');
            push @files, "$n" if defined $n;
        }
        $out{files} = \@files;
    }
    print $json->encode(\%out), "\n";
}
