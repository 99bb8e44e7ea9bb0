package ui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/user"
)

// Sign in, sign out, self-registration, own account, theme.

type loginData struct {
	Next      string
	Principal string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusFound)
		return nil
	}
	v.Title = "Sign in"
	v.Data = loginData{Next: r.URL.Query().Get("next")}
	c.render(w, v, "login")
	return nil
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, v *view) error {
	principal := strings.TrimSpace(r.PostForm.Get("principal"))
	st, err := c.svc.Sessions.Login(r.Context(), principal, r.PostForm.Get("password"), auth.ClientAddr(r))
	if err != nil {
		if err := v.fail("login", serviceError(err)); err != nil {
			return err
		}
		v.Title = "Sign in"
		v.Data = loginData{Next: r.PostForm.Get("next"), Principal: principal}
		c.render(w, v, "login")
		return nil
	}
	api.SetSessionCookies(w, r, st)
	http.SetCookie(w, &http.Cookie{Name: preCSRFCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

// logout ends the browser's session, if it has one that has not ended,
// and forgets its cookies.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *view) error {
	var id string
	if ck, err := r.Cookie(api.SessionCookie); err == nil && v.User != nil {
		id = ck.Value
	}
	if err := c.svc.Sessions.Logout(r.Context(), v.p, id); err != nil {
		return serviceError(err)
	}
	api.ClearSessionCookies(w)
	return redirect(w, r, "/login", "You are signed out.")
}

func (c *Console) registerPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if !v.Info.SelfRegistration {
		return &pageError{Status: http.StatusNotFound, Message: "Self-registration is turned off. Ask an administrator for an account."}
	}
	v.Title = "Create an account"
	c.render(w, v, "register")
	return nil
}

func (c *Console) register(w http.ResponseWriter, r *http.Request, v *view) error {
	if !v.Info.SelfRegistration {
		return &pageError{Status: http.StatusNotFound, Message: "Self-registration is turned off. Ask an administrator for an account."}
	}
	f := r.PostForm
	var err error
	if f.Get("password") != f.Get("password2") {
		err = &pageError{Status: http.StatusBadRequest, Message: "The two passwords differ."}
	} else {
		err = c.addUser(r, v, user.NewUser{Username: strings.TrimSpace(f.Get("username")), Password: f.Get("password"),
			Profile: user.Profile{Email: strings.TrimSpace(f.Get("email")), Realname: strings.TrimSpace(f.Get("realname"))}})
	}
	if err != nil {
		if err := v.fail("register", err); err != nil {
			return err
		}
		v.Title = "Create an account"
		c.render(w, v, "register")
		return nil
	}
	return redirect(w, r, "/login", "Your account is ready: sign in.")
}

// addUser creates u for the caller (user.Service.Create decides who may:
// administrators, anyone while self-registration is on).
func (c *Console) addUser(r *http.Request, v *view, u user.NewUser) error {
	return v.write("create user", func() error {
		_, err := c.svc.Users.Create(r.Context(), v.p, u)
		return err
	})
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusFound)
		return nil
	}
	v.Title = "Your account"
	c.render(w, v, "account")
	return nil
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User == nil {
		return &pageError{Status: http.StatusUnauthorized, Message: "Sign in to change your password."}
	}
	f := r.PostForm
	var err error
	if f.Get("new_password") != f.Get("new_password2") {
		err = &pageError{Status: http.StatusBadRequest, Message: "The two new passwords differ."}
	} else {
		err = v.write("update password", func() error {
			return c.svc.Users.SetPassword(r.Context(), v.p, v.User.UserID, f.Get("old_password"), f.Get("new_password"))
		})
	}
	if err != nil {
		if err := v.fail("password", err); err != nil {
			return err
		}
		v.Form = url.Values{} // never send passwords back
		v.Title = "Your account"
		c.render(w, v, "account")
		return nil
	}
	return redirect(w, r, "/account", "Your password is changed.")
}

// setTheme stores the chosen theme in a cookie (the script does the same
// without a round trip).
func (c *Console) setTheme(w http.ResponseWriter, r *http.Request, v *view) error {
	theme := r.PostForm.Get("theme")
	if theme == "light" || theme == "dark" {
		http.SetCookie(w, &http.Cookie{Name: themeCookie, Value: theme, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	} else {
		http.SetCookie(w, &http.Cookie{Name: themeCookie, Value: "", Path: "/", MaxAge: -1})
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("back")), http.StatusSeeOther)
	return nil
}
