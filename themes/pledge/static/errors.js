// Reports this page's script errors to the API (a few per page), so a broken release shows up
// in the operators' logs and Sentry before visitors write in. Sent as text/plain: no preflight.
(function(){
var sent=0,api=document.documentElement.dataset.api||'';
function report(message,source,line,column,stack){
 if(sent++>=3||!navigator.sendBeacon)return;
 navigator.sendBeacon(api+'/api/v1/client-errors',new Blob([JSON.stringify({message:String(message).slice(0,300),
  source:source||'',line:line||0,column:column||0,page:location.origin+location.pathname,stack:String(stack||'').slice(0,1500)})],{type:'text/plain'}));
}
addEventListener('error',function(e){if(e.message)report(e.message,e.filename,e.lineno,e.colno,e.error&&e.error.stack)});
addEventListener('unhandledrejection',function(e){var r=e.reason||{};report('Unhandled rejection: '+(r.message||r),'',0,0,r.stack)});
})();
