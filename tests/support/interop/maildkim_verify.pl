#!/usr/bin/perl
# Mail::DKIM (libmail-dkim-perl) verifies the DKIM signature of a message,
# the public key record given instead of DNS (tests/interop.rs).
#   maildkim_verify.pl MESSAGE "v=DKIM1; k=rsa; p=..."
# Prints Mail::DKIM's result; exits 0 only on "pass".
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my ( $file, $record ) = @ARGV;
{
    no warnings 'redefine';
    # The one lookup Mail::DKIM makes: the selector's TXT record.
    *Mail::DKIM::DNS::query = sub {
        my ( $domain, $type ) = @_;
        return () unless $type eq 'TXT';
        my @strings = unpack '(A255)*', $record;
        return Net::DNS::RR->new( name => $domain, type => 'TXT', txtdata => [@strings] );
    };
}
my $dkim = Mail::DKIM::Verifier->new();
open my $fh, '<:raw', $file or die "$file: $!";
while ( my $line = <$fh> ) {
    $dkim->PRINT($line);
}
close $fh;
$dkim->CLOSE;
print $dkim->result, ' ', ( $dkim->result_detail // '' ), "\n";
exit( $dkim->result eq 'pass' ? 0 : 1 );
